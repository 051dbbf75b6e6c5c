"""API: organizations, users, API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import Actor
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["admin"])


class OrgIn(BaseModel):
    """A new organization."""

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(operator|enterprise|regulator)$")
    uscc: str | None = Field(None, max_length=18)
    is_sme: bool = False
    enabled_enablers: list[str] | None = None


class OrgPatch(BaseModel):
    """Changes to an organization."""

    is_sme: bool | None = None
    enabled_enablers: list[str] | None = None


class UserIn(BaseModel):
    """A new user."""

    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=8, max_length=200)
    organization_id: int
    roles: list[str] = Field(min_length=1)
    display_name: str = Field("", max_length=200)
    department: str | None = Field(None, max_length=120)


class UserPatch(BaseModel):
    """Changes to a user."""

    roles: list[str] | None = None
    is_active: bool | None = None


class TokenIn(BaseModel):
    """A token request."""

    name: str = Field("", max_length=120)
    user_id: int | None = None


@router.get("/organizations", operation_id="admin-list_organizations")
def list_orgs(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.org.read"))]
) -> list[accounts.OrgOut]:
    """List organizations."""
    return accounts.list_orgs(uow=uow, actor=actor)


@router.post("/organizations", status_code=201, operation_id="admin-create_organization")
def create_org(
    body: OrgIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.org.manage"))]
) -> accounts.OrgOut:
    """Create an organization."""
    return accounts.create_org(uow=uow, actor=actor, **body.model_dump())


@router.get("/organizations/{org_id}", operation_id="admin-get_organization")
def get_org(
    org_id: IdPath, uow: UoW, actor: Annotated[Actor, Depends(require("core.org.read"))]
) -> accounts.OrgOut:
    """Return one organization."""
    return accounts.get_org(uow=uow, actor=actor, org_id=org_id)


@router.patch("/organizations/{org_id}", operation_id="admin-update_organization")
def patch_org(
    org_id: IdPath,
    body: OrgPatch,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.org.manage"))],
) -> accounts.OrgOut:
    """Change an organization."""
    data = body.model_dump(exclude_unset=True)
    return accounts.update_org(
        uow=uow,
        actor=actor,
        org_id=org_id,
        is_sme=data.get("is_sme"),
        enabled_enablers=data.get("enabled_enablers", ...),
    )


@router.get("/users", operation_id="admin-list_users")
def list_users(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.user.read"))]
) -> list[accounts.UserOut]:
    """List users."""
    return accounts.list_users(uow=uow, actor=actor)


@router.post("/users", status_code=201, operation_id="admin-create_user")
def create_user(
    body: UserIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.user.manage"))]
) -> accounts.UserOut:
    """Create a user."""
    return accounts.create_user(uow=uow, actor=actor, **body.model_dump())


@router.get("/users/{user_id}", operation_id="admin-get_user")
def get_user(
    user_id: IdPath, uow: UoW, actor: Annotated[Actor, Depends(require("core.user.read"))]
) -> accounts.UserOut:
    """Return one user."""
    return accounts.get_user(uow=uow, actor=actor, user_id=user_id)


@router.patch("/users/{user_id}", operation_id="admin-update_user")
def patch_user(
    user_id: IdPath,
    body: UserPatch,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.user.manage"))],
) -> accounts.UserOut:
    """Change a user's roles or active flag."""
    return accounts.set_user_roles(uow=uow, actor=actor, user_id=user_id, **body.model_dump())


@router.post("/tokens", status_code=201, operation_id="admin-create_token")
def create_token(
    body: TokenIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.token.manage"))]
) -> accounts.TokenOut:
    """Issue an API token (shown once)."""
    return accounts.issue_token(uow=uow, actor=actor, user_id=body.user_id, name=body.name)


@router.delete("/tokens/{token_id}", status_code=204, operation_id="admin-revoke_token")
def revoke_token(
    token_id: IdPath, uow: UoW, actor: Annotated[Actor, Depends(require("core.token.manage"))]
) -> None:
    """Revoke an API token."""
    accounts.revoke_token(uow=uow, actor=actor, token_id=token_id)
