"""The one place that decides whether a principal may do something to something.

To add a permission: 1. declare it in your Enabler's ``permissions`` mapping
(``"appcheck.report.sign": ("reviewer", "platform_admin")``); 2. guard the route with
``Depends(require("appcheck.report.sign"))`` or call ``check(actor, name, obj)`` in the service;
3. a duplicate name raises at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mingyue.core.db import Scope
from mingyue.core.errors import Forbidden, NotFound

ROLES: tuple[str, ...] = (
    "platform_admin",
    "org_admin",
    "member",
    "reviewer",
    "regulator",
    "auditor",
)
ORG_KINDS: tuple[str, ...] = ("operator", "enterprise", "regulator")
# Roles that oversee every organization (read scope over all tenants).
OVERSIGHT_ROLES = frozenset({"platform_admin", "reviewer", "regulator", "auditor"})


@dataclass(frozen=True)
class Actor:
    """The principal of a request, command or job."""

    user_id: int | None
    username: str
    organization_id: int | None
    org_kind: str
    roles: frozenset[str]
    is_sme: bool = False
    org_name: str = ""
    locale: str = "zh_CN"
    # Enabler keys switched on for the actor's organization (None: all installed ones).
    enabled: frozenset[str] | None = None

    @property
    def is_system(self) -> bool:
        """Tell whether this is the platform itself (jobs without a user, migrations)."""
        return self.user_id is None and self.username == "system"

    def has_role(self, *roles: str) -> bool:
        """Tell whether the actor holds any of the roles."""
        return bool(self.roles.intersection(roles))

    def enabler_enabled(self, key: str) -> bool:
        """Tell whether the actor's organization has this enabler switched on."""
        return self.enabled is None or key in self.enabled

    def label(self) -> str:
        """Return the actor as written in the ledger."""
        return f"user:{self.username}" if self.user_id is not None else self.username


SYSTEM = Actor(
    user_id=None,
    username="system",
    organization_id=None,
    org_kind="operator",
    roles=frozenset({"platform_admin"}),
)


@dataclass(frozen=True)
class PermissionSpec:
    """Which roles hold a permission, and whether it reaches over organizations."""

    name: str
    roles: frozenset[str]
    description: str = ""
    # "own": only objects of the actor's organization; "scope": objects in the actor's scope
    # (oversight roles see every organization).
    reach: str = "scope"


@dataclass
class _Registry:
    perms: dict[str, PermissionSpec] = field(default_factory=dict)


_registry = _Registry()


def register_permission(
    name: str, roles: Iterable[str], description: str = "", reach: str = "scope"
) -> PermissionSpec:
    """Register a permission by namespaced name; raise on a duplicate or an unknown role."""
    if name in _registry.perms:
        raise ValueError(f"duplicate permission: {name}")
    roles = frozenset(roles)
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles for {name}: {sorted(unknown)}")
    if reach not in ("own", "scope"):
        raise ValueError(f"bad reach for {name}: {reach}")
    spec = PermissionSpec(name=name, roles=roles, description=description, reach=reach)
    _registry.perms[name] = spec
    return spec


def permissions() -> dict[str, PermissionSpec]:
    """Return every registered permission."""
    return dict(_registry.perms)


def _clear_for_tests() -> None:
    _registry.perms.clear()


def scope_for(actor: Actor) -> Scope:
    """Return the organizations whose rows the actor may read."""
    if actor.is_system or actor.has_role(*OVERSIGHT_ROLES):
        return Scope.everything(reason=f"oversight:{actor.label()}")
    if actor.organization_id is None:
        return Scope()
    return Scope.of(actor.organization_id)


def can(actor: Actor, permission: str, obj: Any = None) -> bool:
    """Tell whether the actor holds the permission (on the object, when given)."""
    spec = _registry.perms.get(permission)
    if spec is None:
        raise KeyError(f"unknown permission: {permission}")
    if not actor.is_system and not actor.roles.intersection(spec.roles):
        return False
    if obj is None or actor.is_system:
        return True
    org_id = getattr(obj, "organization_id", None)
    if spec.reach == "own" and not actor.has_role("platform_admin"):
        return org_id is not None and org_id == actor.organization_id
    return scope_for(actor).allows(org_id)


def check(actor: Actor, permission: str, obj: Any = None) -> None:
    """Raise Forbidden (or NotFound for a foreign object) unless the actor may do this."""
    if can(actor, permission, obj):
        return
    if obj is not None and not scope_for(actor).allows(getattr(obj, "organization_id", None)):
        # A foreign tenant's object is not acknowledged to exist.
        raise NotFound("core.not_found", "not found")
    raise Forbidden("core.forbidden", f"permission {permission} required", permission=permission)
