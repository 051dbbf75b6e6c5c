"""Use cases on organizations, users and API tokens (identity.py holds the tables)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.tenancy.access import OVERSIGHT_ROLES, Actor, can, check, scope_for
from mingyue.core.tenancy.identity import (
    ApiToken,
    Organization,
    User,
    hash_password,
    new_token,
    validate_org,
    validate_roles,
)
from mingyue.core.uow import UnitOfWork


def _is_platform(actor: Actor) -> bool:
    return actor.is_system or actor.has_role("platform_admin")


def _in_org(org_id: int) -> SimpleNamespace:
    """Stand for an object of this organization in a permission check."""
    return SimpleNamespace(organization_id=org_id)


def _check_manage(actor: Actor, user: User) -> None:
    """Raise unless the actor may manage this user (docs/security.md, "Account rules").

    ``core.user.manage`` has reach ``own``: an org admin manages their own organization only,
    whatever oversight role they also hold. Nobody but a platform admin acts on a platform admin.
    """
    check(actor, "core.user.manage", user)
    if "platform_admin" in (user.roles or []) and not _is_platform(actor):
        raise Forbidden(
            "core.forbidden",
            "only a platform admin may act on a platform admin",
            permission="core.user.manage",
        )


def _keep_an_org_admin(
    uow: UnitOfWork, actor: Actor, user: User, roles: list[str] | None, is_active: bool | None
) -> None:
    """Refuse a change that would leave the user's organization with no active org admin.

    Only a platform admin may do that (e.g. when closing an organization).
    """
    if _is_platform(actor):
        return
    is_admin = bool(user.is_active) and "org_admin" in (user.roles or [])
    stays_admin = (user.is_active if is_active is None else is_active) and "org_admin" in (
        user.roles if roles is None else roles
    )
    if not is_admin or stays_admin:
        return
    others = uow.session.scalars(
        select(User).where(
            User.organization_id == user.organization_id,
            User.id != user.id,
            User.is_active.is_(True),
        )
    )
    if not any("org_admin" in (u.roles or []) for u in others):
        raise Conflict(
            "core.user.last_admin",
            "an organization keeps at least one active org admin",
            field="is_active" if roles is None else "roles",
        )


class OrgOut(BaseModel):
    """An organization as shown to API clients."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: str
    uscc: str | None
    is_sme: bool
    enabled_enablers: list[str] | None
    created_at: datetime


class UserOut(BaseModel):
    """A user as shown to API clients (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str
    organization_id: int
    roles: list[str]
    department: str | None
    is_active: bool
    locale: str


class TokenOut(BaseModel):
    """A newly issued token: ``token`` is shown this once."""

    id: int
    name: str
    prefix: str
    token: str | None = None
    created_at: datetime


def create_org(
    *,
    uow: UnitOfWork,
    actor: Actor,
    name: str,
    kind: str,
    uscc: str | None = None,
    is_sme: bool = False,
    enabled_enablers: list[str] | None = None,
) -> OrgOut:
    """Create an organization (operator, enterprise or regulator)."""
    check(actor, "core.org.manage")
    name = name.strip()
    if not name:
        raise InvalidInput("core.invalid_input", "name must not be empty", field="name")
    uscc = uscc.strip().upper() if uscc else None
    validate_org(kind, uscc)
    s = uow.session
    if s.scalars(select(Organization).where(Organization.name == name)).first():
        raise Conflict("core.org.exists", f"organization {name!r} exists", field="name")
    if uscc and s.scalars(select(Organization).where(Organization.uscc == uscc)).first():
        raise Conflict("core.org.exists", "an organization with this USCC exists", field="uscc")
    org = Organization(
        name=name,
        kind=kind,
        uscc=uscc,
        is_sme=is_sme and kind == "enterprise",
        enabled_enablers=enabled_enablers,
        settings={},
    )
    s.add(org)
    uow.flush()
    uow.audit(
        "core.org.created",
        f"core_organization:{org.id}",
        {"name": name, "kind": kind, "uscc": uscc, "is_sme": org.is_sme},
        organization_id=org.id,
    )
    return OrgOut.model_validate(org)


def update_org(
    *,
    uow: UnitOfWork,
    actor: Actor,
    org_id: int,
    is_sme: bool | None = None,
    enabled_enablers: list[str] | Any | None = ...,
    settings: dict[str, Any] | None = None,
) -> OrgOut:
    """Change an organization's SME flag, enabled enablers or settings."""
    check(actor, "core.org.manage")
    org = uow.session.get(Organization, org_id)
    if org is None:
        raise NotFound("core.not_found", "no such organization")
    check(actor, "core.org.manage", _in_org(org.id))
    changes: dict[str, Any] = {}
    if is_sme is not None:
        org.is_sme = is_sme and org.kind == "enterprise"
        changes["is_sme"] = org.is_sme
    if enabled_enablers is not ...:
        org.enabled_enablers = enabled_enablers
        changes["enabled_enablers"] = enabled_enablers
    if settings is not None:
        org.settings = {**(org.settings or {}), **settings}
        changes["settings"] = settings
    uow.audit("core.org.updated", f"core_organization:{org.id}", changes, organization_id=org.id)
    return OrgOut.model_validate(org)


def list_orgs(*, uow: UnitOfWork, actor: Actor) -> list[OrgOut]:
    """List organizations: every one for oversight roles, else one's own."""
    check(actor, "core.org.read")
    q = select(Organization).order_by(Organization.id)
    scope = scope_for(actor)
    if not scope.all_orgs:
        q = q.where(Organization.id.in_(sorted(scope.org_ids)))
    return [OrgOut.model_validate(o) for o in uow.session.scalars(q)]


def get_org(*, uow: UnitOfWork, actor: Actor, org_id: int) -> OrgOut:
    """Return one organization the actor may see."""
    check(actor, "core.org.read")
    org = uow.session.get(Organization, org_id)
    if org is None or not scope_for(actor).allows(org.id):
        raise NotFound("core.not_found", "no such organization")
    return OrgOut.model_validate(org)


def create_user(
    *,
    uow: UnitOfWork,
    actor: Actor,
    username: str,
    password: str,
    organization_id: int,
    roles: list[str],
    display_name: str = "",
    department: str | None = None,
    locale: str = "zh_CN",
) -> UserOut:
    """Create a user in an organization (org admins only in their own organization)."""
    check(actor, "core.user.manage")
    roles = validate_roles(list(roles))
    if not can(actor, "core.user.manage", _in_org(organization_id)):
        raise Forbidden("core.forbidden", "org admins create users in their own organization")
    if not _is_platform(actor) and OVERSIGHT_ROLES & set(roles):
        raise Forbidden("core.forbidden", "only a platform admin grants oversight roles")
    username = username.strip()
    if (
        not username
        or len(username) > 80
        or not username.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        raise InvalidInput(
            "core.invalid_input", "username: letters, digits, _ - . only", field="username"
        )
    org = uow.session.get(Organization, organization_id)
    if org is None:
        raise InvalidInput("core.not_found", "no such organization", field="organization_id")
    with uow.unscoped(reason="username uniqueness check", record=False):
        if uow.session.scalars(select(User.id).where(User.username == username)).first():
            raise Conflict("core.user.exists", f"username {username!r} is taken", field="username")
    user = User(
        username=username,
        password_hash=hash_password(password),
        organization_id=organization_id,
        roles=roles,
        display_name=display_name,
        department=department,
        locale=locale,
    )
    uow.session.add(user)
    uow.flush()
    uow.audit(
        "core.user.created",
        f"core_user:{user.id}",
        {"username": username, "roles": roles},
        organization_id=organization_id,
    )
    return UserOut.model_validate(user)


def list_users(*, uow: UnitOfWork, actor: Actor) -> list[UserOut]:
    """List the users the actor may see (scoped by organization)."""
    check(actor, "core.user.read")
    return [UserOut.model_validate(u) for u in uow.session.scalars(select(User).order_by(User.id))]


def get_user(*, uow: UnitOfWork, actor: Actor, user_id: int) -> UserOut:
    """Return one visible user."""
    check(actor, "core.user.read")
    user = uow.session.scalars(select(User).where(User.id == user_id)).first()
    if user is None:
        raise NotFound("core.user.not_found", "no such user")
    return UserOut.model_validate(user)


def set_user_roles(
    *,
    uow: UnitOfWork,
    actor: Actor,
    user_id: int,
    roles: list[str] | None = None,
    is_active: bool | None = None,
) -> UserOut:
    """Change a user's roles or active flag.

    An org admin changes users of their own organization only, never a platform admin, grants
    no oversight role, and cannot leave the organization without an active org admin.
    """
    check(actor, "core.user.manage")
    user = uow.session.scalars(select(User).where(User.id == user_id)).first()
    if user is None:
        raise NotFound("core.user.not_found", "no such user")
    _check_manage(actor, user)
    changes: dict[str, Any] = {}
    if roles is not None:
        roles = validate_roles(roles)
        if not _is_platform(actor) and OVERSIGHT_ROLES & set(roles):
            raise Forbidden("core.forbidden", "only a platform admin grants oversight roles")
    _keep_an_org_admin(uow, actor, user, roles, is_active)
    if roles is not None:
        user.roles = roles
        changes["roles"] = roles
    if is_active is not None:
        user.is_active = is_active
        changes["is_active"] = is_active
    uow.audit(
        "core.user.updated", f"core_user:{user.id}", changes, organization_id=user.organization_id
    )
    _forget_cached_actors()
    return UserOut.model_validate(user)


def set_password(*, uow: UnitOfWork, actor: Actor, user_id: int, password: str) -> None:
    """Set a user's password (the user themself or an admin of their organization)."""
    user = uow.session.scalars(select(User).where(User.id == user_id)).first()
    if user is None:
        raise NotFound("core.user.not_found", "no such user")
    if actor.user_id != user.id:
        _check_manage(actor, user)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    uow.audit(
        "core.user.password_changed",
        f"core_user:{user.id}",
        {},
        organization_id=user.organization_id,
    )


def issue_token(
    *, uow: UnitOfWork, actor: Actor, user_id: int | None = None, name: str = ""
) -> TokenOut:
    """Issue an API token for oneself (or, for admins, for a user they manage).

    A token is the user's full power: issuing one for another user needs ``core.user.manage``
    on that user (own organization; a platform admin only for a platform admin).
    """
    check(actor, "core.token.manage")
    uid = user_id if user_id is not None else actor.user_id
    if uid is None:
        raise InvalidInput("core.invalid_input", "user_id required", field="user_id")
    user = uow.session.scalars(select(User).where(User.id == uid)).first()
    if user is None:
        raise NotFound("core.user.not_found", "no such user")
    if uid != actor.user_id:
        _check_manage(actor, user)
    token, prefix, digest = new_token()
    row = ApiToken(
        user_id=user.id,
        organization_id=user.organization_id,
        name=name[:120],
        prefix=prefix,
        token_hash=digest,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "core.token.created",
        f"core_api_token:{row.id}",
        {"user": user.username, "prefix": prefix},
        organization_id=user.organization_id,
    )
    return TokenOut(id=row.id, name=row.name, prefix=prefix, token=token, created_at=row.created_at)


def revoke_token(*, uow: UnitOfWork, actor: Actor, token_id: int) -> None:
    """Revoke an API token."""
    row = uow.session.scalars(select(ApiToken).where(ApiToken.id == token_id)).first()
    if row is None:
        raise NotFound("core.not_found", "no such token")
    if row.user_id != actor.user_id:
        owner = uow.session.scalars(select(User).where(User.id == row.user_id)).first()
        if owner is None:
            check(actor, "core.user.manage", row)
        else:
            _check_manage(actor, owner)
    row.revoked = True
    uow.audit(
        "core.token.revoked",
        f"core_api_token:{row.id}",
        {"prefix": row.prefix},
        organization_id=row.organization_id,
    )
    _forget_cached_actors()


_identity_listeners: list[Callable[[], None]] = []


def on_identity_change(callback: Callable[[], None]) -> None:
    """Call ``callback`` after any change to users, roles or organizations (e.g. a cache reset).

    The web layer registers its actor cache here, so the core never imports the web layer.
    """
    if callback not in _identity_listeners:
        _identity_listeners.append(callback)


def _forget_cached_actors() -> None:
    for callback in list(_identity_listeners):
        callback()
