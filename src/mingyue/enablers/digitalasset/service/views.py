"""What the console pages show, gathered in one unit of work (plain data, no HTML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetCollection,
    DigitalassetToken,
    DigitalassetWork,
)
from mingyue.enablers.digitalasset.schemas import (
    AccountOut,
    CollectionOut,
    EvidenceOut,
    HoldingOut,
    TokenOut,
    TraceOut,
    TransferOut,
    WorkOut,
)
from mingyue.enablers.digitalasset.schemas_monitor import AlertOut
from mingyue.enablers.digitalasset.service import (
    circulation,
    custody,
    evidence,
    issuance,
    monitor,
    registry,
)
from mingyue.enablers.digitalasset.service.common import opts
from mingyue.sdk import Actor, CaseDetail, UnitOfWork, can, get_case, organization


def org_names(uow: UnitOfWork, ids: set[int]) -> dict[int, str]:
    """Return the names of organizations the actor's scope reaches."""
    out: dict[int, str] = {}
    for i in ids:
        org = organization(uow=uow, organization_id=i)
        out[i] = org.name if org is not None else f"#{i}"
    return out


@dataclass
class WorkPage:
    """A work with its case, certificate, evidence, tokens and what the actor may do."""

    work: WorkOut
    organization: str
    case: CaseDetail | None
    evidence: list[EvidenceOut]
    tokens: list[TokenOut]
    collections: list[CollectionOut]
    certificate_url: str | None
    can_review: bool
    can_issue: bool
    can_evidence: bool
    transitions: list[Any] = field(default_factory=list)


def work_page(*, uow: UnitOfWork, actor: Actor, work_id: int) -> WorkPage:
    """Gather a work's page."""
    work = registry.get_work(uow=uow, actor=actor, work_id=work_id)
    case = get_case(uow=uow, case_id=work.case_id, actor=actor) if work.case_id else None
    tokens = [
        issuance.token_out(t)
        for t in uow.session.scalars(
            select(DigitalassetToken).where(DigitalassetToken.work_id == work.id)
        )
    ]
    own = work.organization_id == actor.organization_id
    collections = issuance.list_collections(uow=uow, actor=actor) if own else []
    return WorkPage(
        work=work,
        organization=org_names(uow, {work.organization_id})[work.organization_id],
        case=case,
        evidence=evidence.list_packages(uow=uow, actor=actor, work_id=work.id),
        tokens=tokens,
        collections=[c for c in collections if c.organization_id == work.organization_id],
        certificate_url=f"/verify/{work.certificate_id}" if work.certificate_id else None,
        can_review=can(actor, "digitalasset.work.review"),
        can_issue=own and can(actor, "digitalasset.issue") and work.review_status == "approved",
        can_evidence=own
        and can(actor, "digitalasset.evidence.build")
        and work.review_status == "approved",
        transitions=list(case.transitions) if case is not None else [],
    )


@dataclass
class IssuancePage:
    """Collections, tokens and the approved works an issuer may issue."""

    collections: list[CollectionOut]
    tokens: list[TokenOut]
    works: dict[int, str]
    approved: list[WorkOut]
    orgs: dict[int, str]
    can_issue: bool


def issuance_page(*, uow: UnitOfWork, actor: Actor) -> IssuancePage:
    """Gather the issuance page."""
    collections = issuance.list_collections(uow=uow, actor=actor)
    tokens = issuance.list_tokens(uow=uow, actor=actor)
    titles = {
        w.id: w.title
        for w in uow.session.scalars(
            select(DigitalassetWork).where(DigitalassetWork.id.in_({t.work_id for t in tokens}))
        )
    }
    can_issue = can(actor, "digitalasset.issue")
    approved = registry.list_works(uow=uow, actor=actor, status="approved") if can_issue else []
    return IssuancePage(
        collections=collections,
        tokens=tokens,
        works=titles,
        approved=[w for w in approved if w.organization_id == actor.organization_id],
        orgs=org_names(uow, {c.organization_id for c in collections}),
        can_issue=can_issue,
    )


@dataclass
class HoldingsPage:
    """The actor's account, the holdings in scope and the transfer record."""

    account: AccountOut | None
    holdings: list[HoldingOut]
    transfers: list[TransferOut]
    holding_days: int
    can_transfer: bool
    can_open: bool


def holdings_page(*, uow: UnitOfWork, actor: Actor) -> HoldingsPage:
    """Gather the holdings page."""
    own = custody.user_account(uow, actor)
    return HoldingsPage(
        account=AccountOut.model_validate(own, from_attributes=True) if own else None,
        holdings=circulation.list_holdings(uow=uow, actor=actor),
        transfers=circulation.list_transfers(uow=uow, actor=actor, limit=100),
        holding_days=opts(uow).holding_days,
        can_transfer=can(actor, "digitalasset.transfer"),
        can_open=can(actor, "digitalasset.account.open"),
    )


@dataclass
class SupervisionPage:
    """What the regulator oversees."""

    collections: list[CollectionOut]
    tokens: list[TokenOut]
    works: dict[int, str]
    refused: list[TransferOut]
    orgs: dict[int, str]
    alerts: list[AlertOut]


def supervision_page(*, uow: UnitOfWork, actor: Actor) -> SupervisionPage:
    """Gather the regulator's page."""
    collections = issuance.list_collections(uow=uow, actor=actor)
    tokens = issuance.list_tokens(uow=uow, actor=actor)
    titles = {
        w.id: w.title
        for w in uow.session.scalars(
            select(DigitalassetWork).where(DigitalassetWork.id.in_({t.work_id for t in tokens}))
        )
    }
    return SupervisionPage(
        collections=collections,
        tokens=tokens,
        works=titles,
        refused=circulation.list_transfers(uow=uow, actor=actor, status="refused", limit=50),
        orgs=org_names(uow, {c.organization_id for c in collections}),
        alerts=(
            monitor.list_alerts(uow=uow, actor=actor, status="open", limit=20)
            if can(actor, "digitalasset.alert.read")
            else []
        ),
    )


def account_orgs(uow: UnitOfWork, tr: TraceOut) -> dict[str, str]:
    """Return the organization name behind each address of a trace (for the regulator)."""
    addresses = {s.from_address for s in tr.steps} | {s.to_address for s in tr.steps}
    out: dict[str, str] = {}
    for address in addresses:
        if not address:
            continue
        account = circulation.account_of(uow, address)
        if account is not None:
            out[address] = org_names(uow, {account.organization_id})[account.organization_id]
    return out


def trace_graph(tr: TraceOut, orgs: dict[str, str]) -> dict[str, Any]:
    """Return the ownership flow of a trace as ECharts graph data (nodes, links)."""
    nodes: dict[str, dict[str, Any]] = {}
    links: list[dict[str, Any]] = []
    holders = {h.address for h in tr.holders}
    for s in tr.steps:
        if s.status != "on_chain" or not s.to_address:
            continue
        for a in (s.from_address, s.to_address):
            if a and a not in nodes:
                label = a[:6] + "…" + a[-4:]
                nodes[a] = {
                    "id": a,
                    "name": f"{orgs[a]}\n{label}" if a in orgs else label,
                    "symbolSize": 46 if a in holders else 30,
                    "category": 1 if a in holders else 0,
                }
        if s.from_address:
            links.append({"source": s.from_address, "target": s.to_address, "value": s.quantity})
    return {"nodes": list(nodes.values()), "links": links}


def collection_of(uow: UnitOfWork, collection_id: int) -> DigitalassetCollection | None:
    """Return a collection row in scope."""
    return uow.session.get(DigitalassetCollection, collection_id)
