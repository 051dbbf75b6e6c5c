"""Loading one tenant-owned object for the actor: absent and foreign look the same (NotFound)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from mingyue.core.errors import NotFound
from mingyue.core.tenancy.access import check, scope_for
from mingyue.core.uow import UnitOfWork

T = TypeVar("T")


def get_visible(
    uow: UnitOfWork,
    model: type[T],
    obj_id: Any,
    permission: str | None = None,
    *,
    key: str = "core.not_found",
) -> T:
    """Return the object with this id if the actor may see it (and hold ``permission`` on it)."""
    pk = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    obj = uow.session.scalars(select(model).where(pk == obj_id)).first()
    if obj is None or not scope_for(uow.actor).allows(getattr(obj, "organization_id", None)):
        raise NotFound(key, f"no {model.__name__} {obj_id}")
    if permission:
        check(uow.actor, permission, obj)
    return obj
