"""NGSI-LD tenants: the caller's organization, or the one ``NGSILD-Tenant`` names (admins only).

NGSI-LD tenants map to the platform's organizations. Without the header (or when it names the
caller's own organization, by name or id) the tenant is the caller's organization; naming any
other organization is refused (403) unless the caller is a platform administrator, who may act
in every tenant (404 NonexistentTenant when no organization has that name).
"""

from __future__ import annotations

from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError
from mingyue.sdk import Actor, UnitOfWork, find_organizations, organization

MAX_TENANT = 200


def resolve(uow: UnitOfWork, *, actor: Actor, header: str | None) -> int:
    """Return the organization id the request acts in."""
    own = actor.organization_id
    if header is None or not header.strip():
        if own is None:
            raise NgsiError("NonexistentTenant", "the caller belongs to no organization")
        return own
    name = header.strip()
    if len(name) > MAX_TENANT:
        raise NgsiError("BadRequestData", "NGSILD-Tenant is too long")
    if own is not None and (name == actor.org_name or name == str(own)):
        return own
    if not actor.has_role("platform_admin"):
        raise NgsiError(
            "Forbidden",
            "NGSILD-Tenant names another organization: only a platform administrator may act there",
        )
    found = find_organizations(uow=uow, name=name, limit=1)
    if found:
        return found[0].id
    if name.isdigit():
        org = organization(uow=uow, organization_id=int(name))
        if org is not None:
            return org.id
    raise NgsiError("NonexistentTenant", f"no tenant (organization) is named {name}")
