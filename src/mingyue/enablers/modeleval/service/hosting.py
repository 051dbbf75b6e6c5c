"""Registered models and their cards: register, change, withdraw, read (own and district-shared),
the evaluation history of a model and the comparison of its versions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from mingyue.enablers.modeleval.adapters.openai_compat import check_base_url
from mingyue.enablers.modeleval.models import ModelevalConversation, ModelevalModel, ModelevalRun
from mingyue.enablers.modeleval.schemas import (
    ModelCard,
    ModelIn,
    ModelOut,
    ModelUpdate,
    Scores,
    VersionScores,
)
from mingyue.enablers.modeleval.settings import options
from mingyue.sdk import Actor, Settings, UnitOfWork, check, get_visible, require_org, seal, unseal
from mingyue.sdk.errors import Conflict, InvalidInput, NotFound

KEY_PURPOSE = "modeleval.model_key"
SHARED_READ = "modeleval: models shared with the district"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_endpoint(settings: Settings, url: str) -> str:
    """Validate a model's endpoint and its host against the allow-list; return the base URL.

    Only hosts in ``MINGYUE_MODELEVAL__ENDPOINT_HOSTS`` (and loopback outside prod) may be
    named: the platform itself sends the trial requests (no request to an address a tenant
    chose, docs/security.md "Outside engines").
    """
    try:
        base = check_base_url(url)
    except InvalidInput as exc:
        raise InvalidInput(exc.key, exc.message, field="endpoint") from None
    parts = urlsplit(base)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if host in _LOOPBACK and settings.env != "prod":
        return base
    allowed = options(settings).endpoint_hosts
    if host in allowed or f"{host}:{port}" in allowed:
        return base
    raise InvalidInput(
        "modeleval.endpoint_not_allowed",
        f"the endpoint host {host}:{port} is not in MINGYUE_MODELEVAL__ENDPOINT_HOSTS",
        field="endpoint",
    )


def model_out(row: ModelevalModel) -> ModelOut:
    """Return a model's card without its sealed key."""
    out = ModelOut.model_validate(row)
    out.has_sealed_key = row.api_key_sealed is not None
    return out


def api_key_of(settings: Settings, row: ModelevalModel) -> str | None:
    """Return the model's sealed key (None when it names a variable or has no key)."""
    if row.api_key_sealed is None:
        return None
    return unseal(settings, KEY_PURPOSE, row.api_key_sealed).get("key")


def register_model(*, uow: UnitOfWork, actor: Actor, data: ModelIn) -> ModelOut:
    """Register a model of the actor's organization with its card."""
    check(actor, "modeleval.model.register")
    org = require_org(actor)
    endpoint = check_endpoint(uow.settings, data.endpoint)
    name, version = data.name.strip(), data.version.strip()
    if not name or not version:
        raise InvalidInput("modeleval.bad_model", "name and version are required", field="name")
    taken = uow.session.scalars(
        select(ModelevalModel.id).where(
            ModelevalModel.organization_id == org,
            ModelevalModel.name == name,
            ModelevalModel.version == version,
        )
    ).first()
    if taken is not None:
        raise Conflict(
            "modeleval.model_exists", f"{name} {version} is registered already", field="version"
        )
    row = ModelevalModel(
        organization_id=org,
        created_by=actor.label(),
        name=name,
        version=version,
        provider=data.provider.strip(),
        licence=data.licence.strip(),
        intended_use=data.intended_use.strip(),
        limitations=data.limitations.strip(),
        endpoint=endpoint,
        served_model=(data.served_model or name).strip(),
        api_key_env=data.api_key_env,
        api_key_sealed=_sealed(uow, data.api_key.get_secret_value() if data.api_key else None),
        price_1k=data.price_1k,
        visibility=data.visibility,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit("modeleval.model.registered", f"modeleval_model:{row.id}", _audit_doc(row))
    return model_out(row)


def _sealed(uow: UnitOfWork, key: str | None) -> str | None:
    return seal(uow.settings, KEY_PURPOSE, {"key": key}) if key else None


def _audit_doc(row: ModelevalModel) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": row.version,
        "provider": row.provider,
        "endpoint": row.endpoint,
        "visibility": row.visibility,
        "price_1k": str(row.price_1k) if row.price_1k is not None else None,
        "key": "sealed" if row.api_key_sealed else ("env" if row.api_key_env else None),
    }


def update_model(*, uow: UnitOfWork, actor: Actor, model_id: int, data: ModelUpdate) -> ModelOut:
    """Change a model card of the actor's organization."""
    row = get_visible(uow, ModelevalModel, model_id, "modeleval.model.register")
    changes = data.model_dump(exclude_unset=True)
    if "endpoint" in changes and changes["endpoint"] is not None:
        row.endpoint = check_endpoint(uow.settings, changes["endpoint"])
    for field in ("provider", "licence", "intended_use", "limitations", "served_model"):
        if changes.get(field) is not None:
            setattr(row, field, str(changes[field]).strip())
    if "api_key_env" in changes:
        row.api_key_env = data.api_key_env
    if data.api_key is not None:
        row.api_key_sealed = _sealed(uow, data.api_key.get_secret_value())
    if "price_1k" in changes:
        row.price_1k = data.price_1k
    if data.visibility is not None:
        row.visibility = data.visibility
    uow.flush()
    uow.audit("modeleval.model.updated", f"modeleval_model:{row.id}", _audit_doc(row))
    return model_out(row)


def delete_model(*, uow: UnitOfWork, actor: Actor, model_id: int) -> None:
    """Withdraw a model nobody has chatted with (its runs stay, unlinked)."""
    row = get_visible(uow, ModelevalModel, model_id, "modeleval.model.register")
    with uow.unscoped(reason="modeleval: is the model in use by any conversation", record=False):
        used = uow.session.scalar(
            select(func.count(ModelevalConversation.id)).where(
                ModelevalConversation.model_id == row.id
            )
        )
    if used:
        raise Conflict(
            "modeleval.model_in_use",
            "the model has trial conversations: make it private instead of deleting it",
        )
    for run in uow.session.scalars(select(ModelevalRun).where(ModelevalRun.model_id == row.id)):
        run.model_id = None
    uow.audit("modeleval.model.deleted", f"modeleval_model:{row.id}", _audit_doc(row))
    uow.session.delete(row)
    uow.flush()


def readable_models(uow: UnitOfWork, *, name: str | None = None) -> list[ModelevalModel]:
    """Return the models the actor may read: its organization's and those shared with all."""
    stmt = select(ModelevalModel).order_by(ModelevalModel.name, ModelevalModel.version)
    if name is not None:
        stmt = stmt.where(ModelevalModel.name == name)
    rows = {r.id: r for r in uow.session.scalars(stmt)}
    # A shared card is published by its owner for every organization (never the key), so
    # reading it lifts the scope without a ledger entry: reads must not write the ledger.
    with uow.unscoped(reason=SHARED_READ, record=False):
        shared = uow.session.scalars(stmt.where(ModelevalModel.visibility == "district")).all()
    for r in shared:
        rows.setdefault(r.id, r)
    return sorted(rows.values(), key=lambda r: (r.name, r.version, r.id))


def readable_model(uow: UnitOfWork, model_id: int) -> ModelevalModel:
    """Return one model the actor may read (NotFound when absent, or private to another org)."""
    try:
        return get_visible(uow, ModelevalModel, model_id)
    except NotFound:
        pass
    with uow.unscoped(reason=SHARED_READ, record=False):
        row = uow.session.scalars(
            select(ModelevalModel).where(
                ModelevalModel.id == model_id, ModelevalModel.visibility == "district"
            )
        ).first()
    if row is None:
        raise NotFound("core.not_found", f"no model {model_id}")
    return row


def list_models(*, uow: UnitOfWork, actor: Actor) -> list[ModelOut]:
    """List the models the actor may read (own organization's and district-shared ones)."""
    check(actor, "modeleval.model.read")
    return [model_out(r) for r in readable_models(uow)]


def get_model(*, uow: UnitOfWork, actor: Actor, model_id: int) -> ModelOut:
    """Return one model's card."""
    check(actor, "modeleval.model.read")
    return model_out(readable_model(uow, model_id))


def _scores(run: ModelevalRun) -> Scores:
    card = run.scorecard or {}

    def num(section: str, key: str) -> float | None:
        value = (card.get(section) or {}).get(key)
        return float(value) if isinstance(value, (int, float)) else None

    return Scores(
        run_id=run.id,
        created_at=run.created_at,
        generality=num("generality", "accuracy"),
        efficiency=num("efficiency", "tokens_per_s"),
        robustness=num("robustness", "accuracy_perturbed"),
        safety=num("safety", "refusal_rate"),
        credential_id=run.credential_id,
        status=run.status,
    )


def model_card(*, uow: UnitOfWork, actor: Actor, model_id: int) -> ModelCard:
    """Return a model's card, its runs (the four scores) and its versions' latest scores."""
    check(actor, "modeleval.model.read")
    row = readable_model(uow, model_id)
    runs = uow.session.scalars(
        select(ModelevalRun).where(ModelevalRun.model_id == row.id).order_by(ModelevalRun.id.desc())
    ).all()
    versions = []
    for v in readable_models(uow, name=row.name):
        if v.organization_id != row.organization_id:
            continue
        latest = uow.session.scalars(
            select(ModelevalRun)
            .where(ModelevalRun.model_id == v.id, ModelevalRun.status == "succeeded")
            .order_by(ModelevalRun.id.desc())
            .limit(1)
        ).first()
        versions.append(
            VersionScores(
                model_id=v.id, version=v.version, latest=_scores(latest) if latest else None
            )
        )
    return ModelCard(model=model_out(row), runs=[_scores(r) for r in runs], versions=versions)


def match_model(uow: UnitOfWork, *, endpoint: str, served_model: str) -> int | None:
    """Return the registered model (readable by the actor) a run of this endpoint evaluated."""
    found = [
        r
        for r in readable_models(uow)
        if r.endpoint == endpoint.rstrip("/") and r.served_model == served_model
    ]
    own = [r for r in found if r.organization_id == uow.actor.organization_id]
    pick = max(own or found, key=lambda r: (r.updated_at, r.id), default=None)
    return pick.id if pick is not None else None
