"""NGSI-LD batch entity operations (clause 5.6.7–5.6.10, ``entityOperations/<op>``).

Each entity of a batch runs in a savepoint of the request's unit of work: one failing entity
is reported with its ProblemDetails and rolled back alone, the others stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError, bad_data
from mingyue.enablers.citygov.service import broker
from mingyue.sdk import Settings, UnitOfWork

MAX_BATCH = 1000


@dataclass
class BatchResult:
    """The outcome of a batch operation: ids that succeeded and errors per entity."""

    success: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def fail(self, entity_id: Any, exc: NgsiError) -> None:
        """Record one entity's failure."""
        self.errors.append({"entityId": entity_id, "error": exc.problem()})


def _batch_items(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise bad_data("a batch operation takes a JSON array")
    if not body:
        raise bad_data("a batch operation takes a non-empty array")
    if len(body) > MAX_BATCH:
        raise bad_data(f"a batch holds at most {MAX_BATCH} entities")
    return body


def _savepoint_run(uow: UnitOfWork, fn: Any) -> None:
    nested = uow.session.begin_nested()
    try:
        fn()
        uow.flush()
    except NgsiError:
        nested.rollback()
        raise
    else:
        nested.commit()


def batch(
    uow: UnitOfWork,
    *,
    org_id: int,
    contexts: list[Any],
    op: str,
    body: Any,
    options: frozenset[str] = frozenset(),
) -> BatchResult:
    """Run a batch (entityOperations/create|upsert|update|merge|delete); one result per entity."""
    items = _batch_items(body)
    result = BatchResult()
    for item in items:
        if op == "delete":
            if not isinstance(item, str):
                result.fail(item, bad_data("a batch delete takes entity ids"))
                continue
            try:
                _savepoint_run(
                    uow, lambda i=item: broker.delete_entity(uow, org_id=org_id, entity_id=i)
                )
                result.success.append(item)
            except NgsiError as exc:
                result.fail(item, exc)
            continue
        entity_id = item.get("id") if isinstance(item, dict) else None
        try:
            ctx = _item_context(uow.settings, contexts, item)
            if op == "create":
                _savepoint_run(
                    uow,
                    lambda i=item, c=ctx: broker.create_entity(uow, org_id=org_id, ctx=c, body=i),
                )
                result.success.append(str(entity_id))
            elif op == "upsert":
                created = _batch_upsert(uow, org_id, ctx, item, replace="update" not in options)
                result.success.append(str(entity_id))
                if created:
                    result.created.append(str(entity_id))
            elif op == "update":
                _batch_update(uow, org_id, ctx, item, no_overwrite="noOverwrite" in options)
                result.success.append(str(entity_id))
            elif op == "merge":
                _savepoint_run(
                    uow,
                    lambda i=item, c=ctx: broker.merge_entity(
                        uow, org_id=org_id, ctx=c, entity_id=_need_id(i), body=i
                    ),
                )
                result.success.append(str(entity_id))
            else:
                raise bad_data(f"unknown batch operation {op}")
        except NgsiError as exc:
            result.fail(entity_id, exc)
    return result


def _need_id(item: Any) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise bad_data("the entity has no id")
    return str(item["id"])


def _item_context(settings: Settings, contexts: list[Any], item: Any) -> ActiveContext:
    if isinstance(item, dict) and "@context" in item:
        raw = item["@context"]
        return broker.active_context(settings, raw if isinstance(raw, list) else [raw])
    return broker.active_context(settings, contexts)


def _batch_upsert(
    uow: UnitOfWork, org_id: int, ctx: ActiveContext, item: Any, *, replace: bool
) -> bool:
    entity_id = _need_id(item)
    created = {"v": False}

    def run() -> None:
        if not broker.exists(uow, org_id=org_id, entity_id=entity_id):
            broker.create_entity(uow, org_id=org_id, ctx=ctx, body=item)
            created["v"] = True
        elif replace:
            broker.replace_entity(uow, org_id=org_id, ctx=ctx, entity_id=entity_id, body=item)
        else:
            broker.append_attrs(uow, org_id=org_id, ctx=ctx, entity_id=entity_id, body=item)

    _savepoint_run(uow, run)
    return created["v"]


def _batch_update(
    uow: UnitOfWork, org_id: int, ctx: ActiveContext, item: Any, *, no_overwrite: bool
) -> None:
    entity_id = _need_id(item)

    def run() -> None:
        res = broker.append_attrs(
            uow, org_id=org_id, ctx=ctx, entity_id=entity_id, body=item, no_overwrite=no_overwrite
        )
        if res.not_updated and not res.updated and not no_overwrite:
            raise bad_data("no attribute was updated")

    _savepoint_run(uow, run)
