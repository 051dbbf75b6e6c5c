"""The one place that decides whether a principal may do something to something.

To add a permission: 1. declare it in your Enabler's ``permissions`` mapping
(``"appcheck.report.sign": ("reviewer", "platform_admin")``, or
``Permission(roles=(...), reach="own")`` for a write that must stay inside one organization);
2. guard the route with ``Depends(require("appcheck.report.sign"))`` or call
``check(actor, name, obj)`` in the service; 3. add its row to the table in ``docs/security.md``
(``tests/core/test_permission_matrix.py`` holds the code to it); a duplicate name raises at start-up.

Reach (who may act on another organization's object):
- ``own``: nobody but the platform admin;
- ``supervised``: the oversight roles (platform admin, reviewer, regulator, auditor) that hold
  the permission, over the organizations in their scope;
- ``platform``: only the platform admin holds it, over every organization.
An actor reaches another organization only through a role that both grants the permission and
carries that reach: an ``org_admin`` who is also a ``regulator`` manages users of their own
organization only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

from mingyue.core.db import Scope
from mingyue.core.declaration import Reach
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


REACHES: tuple[Reach, ...] = get_args(Reach)
# Roles through which a permission of each reach acts on other organizations' objects.
_CROSS_ORG: dict[str, frozenset[str]] = {
    "own": frozenset({"platform_admin"}),
    "supervised": OVERSIGHT_ROLES,
    "platform": frozenset({"platform_admin"}),
}


@dataclass(frozen=True)
class PermissionSpec:
    """Which roles hold a permission, and whether it reaches over organizations."""

    name: str
    roles: frozenset[str]
    description: str = ""
    reach: Reach = "supervised"


@dataclass
class _Registry:
    perms: dict[str, PermissionSpec] = field(default_factory=dict)


_registry = _Registry()


def register_permission(
    name: str, roles: Iterable[str], description: str = "", reach: str = "supervised"
) -> PermissionSpec:
    """Register a permission by namespaced name; raise on a duplicate, an unknown role or reach.

    ``reach="scope"`` (the name before reaches were spelled out) means ``"supervised"``.
    """
    if name in _registry.perms:
        raise ValueError(f"duplicate permission: {name}")
    roles = frozenset(roles)
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles for {name}: {sorted(unknown)}")
    if reach == "scope":
        reach = "supervised"
    if reach == "own":
        checked: Reach = "own"
    elif reach == "supervised":
        checked = "supervised"
    elif reach == "platform":
        checked = "platform"
        if roles != {"platform_admin"}:
            raise ValueError(f"{name}: reach 'platform' is for the platform_admin role alone")
    else:
        raise ValueError(f"bad reach for {name}: {reach}")
    spec = PermissionSpec(name=name, roles=roles, description=description, reach=checked)
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
    if actor.is_system:
        return True
    held = actor.roles & spec.roles
    if not held:
        return False
    if obj is None:
        return True
    org_id = getattr(obj, "organization_id", None)
    if org_id is not None and org_id == actor.organization_id:
        return True
    # Another organization's object (or one of none): only through a role with that reach.
    return bool(held & _CROSS_ORG[spec.reach]) and scope_for(actor).allows(org_id)


def check(actor: Actor, permission: str, obj: Any = None) -> None:
    """Raise Forbidden (or NotFound for a foreign object) unless the actor may do this."""
    if can(actor, permission, obj):
        return
    if obj is not None and not scope_for(actor).allows(getattr(obj, "organization_id", None)):
        # A foreign tenant's object is not acknowledged to exist.
        raise NotFound("core.not_found", "not found")
    raise Forbidden("core.forbidden", f"permission {permission} required", permission=permission)
