"""What the console's pages show: one call per page, everything the page needs, tenant-checked.

Each function loads through the service functions (same permission checks, NotFound for
absent and foreign objects) and adds what a person needs besides: the maker's name, the case's
state and the steps open to the reader, the plan a run followed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mingyue.enablers.satcert.engine.plan import Plan, load_plan
from mingyue.enablers.satcert.schemas import (
    CertificateOut,
    ImportOut,
    PlanDetail,
    PlanOut,
    RunOut,
    SampleOut,
)
from mingyue.sdk import Actor, UnitOfWork, can, get_case, organization

from .bench import get_run, list_runs, run_log
from .imports import list_imports
from .plans import get_plan, list_plans
from .review import get_certificate, list_certificates
from .samples import get_sample, load_sample

LOG_PAGE_MAX = 5000


@dataclass
class CaseStep:
    """A step of the sample's case the reader may take now."""

    name: str
    title: dict[str, str]
    requires_comment: bool


@dataclass
class SamplePage:
    """A sample with its maker, case, runs, imports and certificates."""

    sample: SampleOut
    maker: str
    case_state: str | None
    case_id: int | None
    steps: list[CaseStep]
    runs: list[RunOut]
    imports: list[ImportOut]
    certificates: list[CertificateOut]
    plans: list[PlanOut] = field(default_factory=list)


@dataclass
class RunPage:
    """A run, its sample, the plan version it followed and its log so far."""

    run: RunOut
    sample: SampleOut
    plan: PlanOut
    lines: list[tuple[int, str]]
    last_seq: int
    progress: int


def maker_name(uow: UnitOfWork, organization_id: int) -> str:
    """Return an organization's name (its number when it has none)."""
    org = organization(uow=uow, organization_id=organization_id)
    return org.name if org is not None else f"#{organization_id}"


def sample_page(*, uow: UnitOfWork, actor: Actor, sample_id: int) -> SamplePage:
    """Return everything the sample page shows (NotFound when absent or foreign)."""
    sample = get_sample(uow=uow, actor=actor, sample_id=sample_id)
    state: str | None = None
    steps: list[CaseStep] = []
    if sample.case_id is not None:
        case = get_case(uow=uow, case_id=sample.case_id, actor=actor)
        state = case.state
        steps = [
            CaseStep(name=t.name, title=dict(t.title), requires_comment=t.requires_comment)
            for t in case.transitions
        ]
    plans = list_plans(uow=uow, actor=actor) if can(actor, "satcert.run.start") else []
    return SamplePage(
        sample=sample,
        maker=maker_name(uow, sample.organization_id),
        case_state=state,
        case_id=sample.case_id,
        steps=steps,
        runs=list_runs(uow=uow, actor=actor, sample_id=sample.id),
        imports=list_imports(uow=uow, actor=actor, sample_id=sample.id),
        certificates=list_certificates(uow=uow, actor=actor, sample_id=sample.id),
        plans=plans,
    )


def run_page(*, uow: UnitOfWork, actor: Actor, run_id: int) -> RunPage:
    """Return a run with its sample, plan version and the whole live log so far."""
    run = get_run(uow=uow, actor=actor, run_id=run_id)
    sample = get_sample(uow=uow, actor=actor, sample_id=run.sample_id)
    plan = get_plan(uow=uow, actor=actor, plan_id=run.plan_id)
    lines: list[tuple[int, str]] = []
    after, progress = 0, 0
    while len(lines) < LOG_PAGE_MAX:
        page = run_log(uow=uow, actor=actor, run_id=run.id, after=after)
        progress = page.progress
        if not page.lines:
            break
        lines.extend((ln.seq, ln.text) for ln in page.lines)
        after = page.next
    return RunPage(
        run=run,
        sample=sample,
        plan=PlanOut.model_validate(plan.model_dump()),
        lines=lines,
        last_seq=after,
        progress=progress,
    )


@dataclass
class CertificatePage:
    """A certificate with its sample and holder."""

    certificate: CertificateOut
    sample: SampleOut
    holder: str


def certificate_page(*, uow: UnitOfWork, actor: Actor, certificate_id: int) -> CertificatePage:
    """Return a certificate with its sample and holder (NotFound when absent or foreign)."""
    cert = get_certificate(uow=uow, actor=actor, certificate_id=certificate_id)
    sample = SampleOut.model_validate(load_sample(uow, cert.sample_id))
    return CertificatePage(
        certificate=cert, sample=sample, holder=maker_name(uow, cert.organization_id)
    )


def plan_detail(*, uow: UnitOfWork, actor: Actor, plan_id: int) -> tuple[PlanDetail, Plan]:
    """Return one plan version with its YAML and the plan it validates to (cases, steps)."""
    detail = get_plan(uow=uow, actor=actor, plan_id=plan_id)
    return detail, load_plan(detail.yaml)
