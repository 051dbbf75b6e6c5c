"""``sdk.ensure_organization`` / ``sdk.ensure_user``: idempotent, the platform's only, audited."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core.db import Scope, session_factory
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.tenancy.identity import Organization, User, verify_password
from mingyue.sdk import SYSTEM, ensure_organization, ensure_user, find_organizations, unit_of_work
from mingyue.sdk.errors import Conflict, Forbidden, InvalidInput
from mingyue.testing import make_uscc

UNIT = "两江新区环卫所"


def _entries(settings: Any, action: str) -> list[AuditEntry]:
    s = session_factory(settings)()
    s.info["scope"] = Scope.everything("test")
    try:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
    finally:
        s.close()


def test_ensure_organization_creates_once_and_audits(settings) -> None:
    with unit_of_work(SYSTEM, settings) as uow:
        first = ensure_organization(uow=uow, actor=SYSTEM, name=f" {UNIT} ", kind="regulator")
    with unit_of_work(SYSTEM, settings) as uow:
        again = ensure_organization(uow=uow, actor=SYSTEM, name=UNIT, kind="regulator")
        assert len(find_organizations(uow=uow, name=UNIT)) == 1
    assert first == again
    assert (first.name, first.kind, first.uscc, first.is_sme) == (UNIT, "regulator", None, False)
    created = [e for e in _entries(settings, "core.org.created") if e.payload["name"] == UNIT]
    assert len(created) == 1  # the second call wrote nothing
    assert created[0].subject == f"core_organization:{first.id}"
    assert created[0].actor == "system" and created[0].organization_id == first.id


def test_a_platform_admin_may_ensure_an_enterprise_with_its_uscc(
    settings, tenants, actor_of
) -> None:
    admin = actor_of(tenants.operator.admin)  # platform_admin of the operator
    uscc = make_uscc(random.Random(4242))
    with unit_of_work(admin, settings) as uow:
        org = ensure_organization(
            uow=uow, actor=admin, name="测试企业", kind="enterprise", uscc=uscc
        )
    assert (org.kind, org.uscc) == ("enterprise", uscc)
    entry = next(
        e for e in _entries(settings, "core.org.created") if e.payload["name"] == "测试企业"
    )
    assert entry.actor == f"user:{tenants.operator.admin.username}"
    # an enterprise without its USCC is refused as the core refuses it
    with pytest.raises(InvalidInput), unit_of_work(admin, settings) as uow:
        ensure_organization(uow=uow, actor=admin, name="无码企业", kind="enterprise")


@pytest.mark.parametrize("who", ["a_admin", "a_member", "regulator_admin", "operator_reviewer"])
def test_ensure_organization_is_refused_to_anyone_but_the_platform(
    settings, tenants, actor_of, who: str
) -> None:
    user = {
        "a_admin": tenants.a.admin,
        "a_member": tenants.a.member,
        "regulator_admin": tenants.regulator.admin,
        "operator_reviewer": tenants.operator.member,
    }[who]
    actor = actor_of(user)
    with unit_of_work(SYSTEM, settings) as uow:
        ensure_organization(uow=uow, actor=SYSTEM, name=UNIT, kind="regulator")
    for name in (UNIT, "市政设施管理所"):  # an existing one and a new one alike
        with pytest.raises(Forbidden), unit_of_work(actor, settings) as uow:
            ensure_organization(uow=uow, actor=actor, name=name, kind="regulator")
    with unit_of_work(SYSTEM, settings) as uow:
        assert find_organizations(uow=uow, name="市政设施管理所") == []


def test_ensure_organization_refuses_another_kind_and_a_bad_kind(settings, tenants) -> None:
    with unit_of_work(SYSTEM, settings) as uow:
        ensure_organization(uow=uow, actor=SYSTEM, name=UNIT, kind="regulator")
    with pytest.raises(Conflict), unit_of_work(SYSTEM, settings) as uow:
        ensure_organization(uow=uow, actor=SYSTEM, name=UNIT, kind="operator")
    with (
        pytest.raises(InvalidInput, match="kind must be one of"),
        unit_of_work(SYSTEM, settings) as uow,
    ):
        ensure_organization(uow=uow, actor=SYSTEM, name="某部门", kind="department")


def test_ensure_user_creates_once_in_its_organization(settings, tenants, actor_of) -> None:
    with unit_of_work(SYSTEM, settings) as uow:
        org = ensure_organization(uow=uow, actor=SYSTEM, name=UNIT, kind="regulator")
        first = ensure_user(
            uow=uow,
            actor=SYSTEM,
            organization_id=org.id,
            username="sanitation_dispatcher",
            roles=["org_admin", "member"],
            display_name="派遣员",
        )
    with unit_of_work(SYSTEM, settings) as uow:
        again = ensure_user(
            uow=uow,
            actor=SYSTEM,
            organization_id=org.id,
            username="sanitation_dispatcher",
            roles=["member"],
        )
    assert first == again
    assert first.organization_id == org.id and first.org_kind == "regulator"
    assert first.roles == frozenset({"org_admin", "member"}) and first.org_name == UNIT
    created = [
        e
        for e in _entries(settings, "core.user.created")
        if e.payload["username"] == "sanitation_dispatcher"
    ]
    assert len(created) == 1 and created[0].organization_id == org.id
    s = session_factory(settings)()
    s.info["scope"] = Scope.everything("test")
    user = s.scalars(select(User).where(User.username == "sanitation_dispatcher")).one()
    # no password given: a random one nobody knows (an administrator sets one)
    assert not verify_password(user.password_hash, "")
    assert s.get(Organization, org.id) is not None
    s.close()
    # the same username in another organization is a conflict, not a silent re-use
    with pytest.raises(Conflict), unit_of_work(SYSTEM, settings) as uow:
        ensure_user(
            uow=uow,
            actor=SYSTEM,
            organization_id=tenants.a.org.id,
            username="sanitation_dispatcher",
            roles=["member"],
        )
    # an enterprise's admin creates no user in a unit's organization
    ent_admin = actor_of(tenants.a.admin)
    with pytest.raises(Forbidden), unit_of_work(ent_admin, settings) as uow:
        ensure_user(
            uow=uow,
            actor=ent_admin,
            organization_id=org.id,
            username="intruder",
            roles=["org_admin"],
        )
