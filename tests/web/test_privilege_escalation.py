"""Privilege escalation across organizations (GitHub issue 12), replayed through the HTTP API.

An attack run found that the regulator office's admin could take a token for the platform admin,
demote the platform admin and deactivate another organization's admin. These tests replay each
step, then walk every non-platform role over the user, token and organization routes of the other
organizations and of the platform. The rules are in docs/security.md ("Account rules").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core.db import system_session
from mingyue.core.errors import Forbidden
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.tenancy.identity import ApiToken, Organization, User
from mingyue.core.uow import unit_of_work

REFUSED = (403, 404)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _snapshot(settings: Any) -> dict[str, Any]:
    """Return what an escalation would change: users, tokens, organizations."""
    with system_session(settings, "test snapshot") as s:
        users = {
            u.id: (sorted(u.roles), u.is_active, u.password_hash, u.organization_id)
            for u in s.scalars(select(User))
        }
        tokens = {t.id: (t.user_id, t.revoked) for t in s.scalars(select(ApiToken))}
        orgs = {
            o.id: (o.name, o.kind, o.is_sme, o.enabled_enablers)
            for o in s.scalars(select(Organization))
        }
    return {"users": users, "tokens": tokens, "orgs": orgs}


def _patch_user(client: Any, headers: dict[str, str], user_id: int, body: dict[str, Any]) -> Any:
    return client.patch(f"/api/users/{user_id}", headers=headers, json=body)


# --- the attacks of the issue, one by one ------------------------------------------------------


def test_regulator_admin_cannot_take_a_token_for_the_platform_admin(
    client: Any, tenants: Any
) -> None:
    attacker = tenants.regulator.headers(admin=True)
    r = client.post("/api/tokens", headers=attacker, json={"user_id": tenants.operator.admin.id})
    assert r.status_code in REFUSED, r.text
    assert "token" not in r.json() or not r.json()["token"]
    # Nor for another organization's admin or member.
    for victim in (tenants.a.admin, tenants.a.member, tenants.operator.member):
        r = client.post("/api/tokens", headers=attacker, json={"user_id": victim.id})
        assert r.status_code in REFUSED, (victim.username, r.text)


def test_regulator_admin_cannot_demote_the_platform_admin(client: Any, tenants: Any) -> None:
    attacker = tenants.regulator.headers(admin=True)
    pa = tenants.operator.admin
    r = _patch_user(client, attacker, pa.id, {"roles": ["member"]})
    assert r.status_code in REFUSED, r.text
    r = client.get(f"/api/users/{pa.id}", headers=tenants.operator.headers(admin=True))
    assert sorted(r.json()["roles"]) == ["org_admin", "platform_admin"]
    # The platform admin's token still carries the platform admin's powers.
    r = client.post(
        "/api/organizations",
        headers=tenants.operator.headers(admin=True),
        json={"name": "still-platform", "kind": "regulator"},
    )
    assert r.status_code == 201, r.text


def test_regulator_admin_cannot_deactivate_another_organizations_admin(
    client: Any, tenants: Any
) -> None:
    attacker = tenants.regulator.headers(admin=True)
    r = _patch_user(client, attacker, tenants.a.admin.id, {"is_active": False})
    assert r.status_code in REFUSED, r.text
    r = client.get("/api/users", headers=tenants.a.headers(admin=True))
    assert r.status_code == 200
    assert {u["id"]: u["is_active"] for u in r.json()}[tenants.a.admin.id] is True


# --- the foreign-tenant walk over user, token and organization routes --------------------------


@dataclass
class Attacker:
    name: str
    user: User
    token: str


@pytest.fixture
def world(
    tenants: Any, make_org: Any, make_user: Any, token_for: Any, settings: Any
) -> dict[str, Any]:
    """Add an auditor office and a non-platform org admin in the operator; a token per victim."""
    audit_office = make_org(kind="regulator")
    auditor = make_user(audit_office, roles=("auditor",))
    audit_admin = make_user(audit_office, roles=("org_admin",))
    operator_admin = make_user(tenants.operator.org, roles=("org_admin",))
    attackers = [
        Attacker("org_admin", tenants.a.admin, tenants.a.admin_token),
        Attacker("member", tenants.a.member, tenants.a.member_token),
        Attacker("reviewer", tenants.operator.member, tenants.operator.member_token),
        Attacker("org_admin+regulator", tenants.regulator.admin, tenants.regulator.admin_token),
        Attacker("regulator", tenants.regulator.member, tenants.regulator.member_token),
        Attacker("auditor", auditor, token_for(auditor)),
        Attacker("operator org_admin", operator_admin, token_for(operator_admin)),
    ]
    everyone = [
        tenants.a.admin,
        tenants.a.member,
        tenants.b.admin,
        tenants.b.member,
        tenants.operator.admin,
        tenants.operator.member,
        tenants.regulator.admin,
        tenants.regulator.member,
        auditor,
        audit_admin,
        operator_admin,
    ]
    token_ids: dict[int, int] = {}
    with unit_of_work(SYSTEM, settings) as uow:
        for u in everyone:
            token_ids[u.id] = accounts.issue_token(uow=uow, actor=SYSTEM, user_id=u.id).id
    return {"attackers": attackers, "everyone": everyone, "token_ids": token_ids}


def _victims(attacker: User, everyone: list[User], platform_admin: User) -> list[User]:
    """Users of other organizations, and the platform admin wherever they sit."""
    return [
        u
        for u in everyone
        if u.organization_id != attacker.organization_id or u.id == platform_admin.id
    ]


def test_no_non_platform_role_acts_on_other_organizations_or_the_platform(
    client: Any, tenants: Any, settings: Any, world: Any
) -> None:
    before = _snapshot(settings)
    pa = tenants.operator.admin
    oversight = {"reviewer", "org_admin+regulator", "regulator", "auditor"}
    problems: list[str] = []

    def expect_refused(what: str, r: Any) -> None:
        if r.status_code not in REFUSED:
            problems.append(f"{what} -> {r.status_code}: {r.text[:160]}")
        elif "myt_" in r.text:
            problems.append(f"{what} leaks a token")

    checked = 0
    for att in world["attackers"]:
        h = _bearer(att.token)
        for v in _victims(att.user, world["everyone"], pa):
            who = f"{att.name} on {v.username} (org {v.organization_id})"
            expect_refused(
                f"{who}: POST /api/tokens",
                client.post("/api/tokens", headers=h, json={"user_id": v.id}),
            )
            user_changes: tuple[dict[str, Any], ...] = (
                {"roles": ["member"]},
                {"is_active": False},
                {"roles": ["org_admin"]},
                {"roles": ["platform_admin"]},
            )
            for body in user_changes:
                expect_refused(f"{who}: PATCH {body}", _patch_user(client, h, v.id, body))
            tid = world["token_ids"][v.id]
            expect_refused(f"{who}: DELETE token", client.delete(f"/api/tokens/{tid}", headers=h))
            r = client.get(f"/api/users/{v.id}", headers=h)
            if att.name in oversight or v.organization_id == att.user.organization_id:
                # Oversight roles read users of every organization (reading only), and
                # everyone reads their own organization's users, a platform admin among them.
                if r.status_code != 200 or "password" in r.text:
                    problems.append(f"{who}: GET -> {r.status_code}")
            else:
                expect_refused(f"{who}: GET", r)
            checked += 7
        for org in (tenants.a.org, tenants.b.org, tenants.operator.org, tenants.regulator.org):
            if org.id == att.user.organization_id:
                continue
            expect_refused(
                f"{att.name}: POST /api/users into org {org.id}",
                client.post(
                    "/api/users",
                    headers=h,
                    json={
                        "username": f"planted-{att.user.id}-{org.id}",
                        "password": "password123",
                        "organization_id": org.id,
                        "roles": ["org_admin"],
                    },
                ),
            )
            org_changes: tuple[dict[str, Any], ...] = ({"is_sme": True}, {"enabled_enablers": []})
            for body in org_changes:
                expect_refused(
                    f"{att.name}: PATCH org {org.id} {body}",
                    client.patch(f"/api/organizations/{org.id}", headers=h, json=body),
                )
            checked += 3
        expect_refused(
            f"{att.name}: POST /api/organizations",
            client.post(
                "/api/organizations",
                headers=h,
                json={"name": f"rogue-{att.user.id}", "kind": "regulator"},
            ),
        )
    assert checked > 200
    assert not problems, "\n".join(problems)
    assert _snapshot(settings) == before
    # Every victim's token still works.
    r = client.get("/api/users", headers=tenants.operator.headers(admin=True))
    assert r.status_code == 200


def test_a_non_platform_admin_of_the_operator_leaves_the_platform_admin_alone(
    client: Any, tenants: Any, settings: Any, world: Any, uow_as: Any, actor_of: Any
) -> None:
    op_admin = next(a for a in world["attackers"] if a.name == "operator org_admin")
    pa = tenants.operator.admin
    h = _bearer(op_admin.token)
    # The same organization: the user is visible, yet out of reach.
    assert client.get(f"/api/users/{pa.id}", headers=h).status_code == 200
    assert client.post("/api/tokens", headers=h, json={"user_id": pa.id}).status_code == 403
    assert _patch_user(client, h, pa.id, {"roles": ["org_admin"]}).status_code == 403
    assert _patch_user(client, h, pa.id, {"is_active": False}).status_code == 403
    tid = world["token_ids"][pa.id]
    assert client.delete(f"/api/tokens/{tid}", headers=h).status_code == 403
    # ... and in the same organization they still manage the other users.
    r = client.post("/api/tokens", headers=h, json={"user_id": tenants.operator.member.id})
    assert r.status_code == 201 and r.json()["token"]
    # Nor may anyone but a platform admin set a platform admin's password (no HTTP route: the
    # console and the CLI call the same service).
    for attacker in (op_admin.user, tenants.regulator.admin):
        with pytest.raises(Forbidden), uow_as(actor_of(attacker)) as uow:
            accounts.set_password(uow=uow, actor=uow.actor, user_id=pa.id, password="x" * 12)
    with uow_as(actor_of(pa)) as uow:
        accounts.set_password(
            uow=uow, actor=uow.actor, user_id=tenants.regulator.admin.id, password="y" * 12
        )


def test_an_organization_keeps_an_active_org_admin(
    client: Any, tenants: Any, make_user: Any, token_for: Any
) -> None:
    a = tenants.a
    h = a.headers(admin=True)
    for body in ({"is_active": False}, {"roles": ["member"]}):
        r = _patch_user(client, h, a.admin.id, body)
        assert r.status_code == 409 and r.json()["key"] == "core.user.last_admin", r.text
    # An inactive second admin does not count.
    dormant = make_user(a.org, roles=("org_admin",))
    assert _patch_user(client, h, dormant.id, {"is_active": False}).status_code == 200
    assert _patch_user(client, h, a.admin.id, {"roles": ["member"]}).status_code == 409
    # With a second active admin, one may step down; the other then may not.
    second = make_user(a.org, roles=("org_admin",))
    h2 = {"Authorization": f"Bearer {token_for(second)}"}
    r = _patch_user(client, h2, a.admin.id, {"roles": ["member"]})
    assert r.status_code == 200, r.text
    assert _patch_user(client, h2, second.id, {"is_active": False}).status_code == 409
    assert _patch_user(client, h2, second.id, {"roles": ["member"]}).status_code == 409
    # The platform admin may (closing an organization).
    r = _patch_user(client, tenants.operator.headers(admin=True), second.id, {"is_active": False})
    assert r.status_code == 200, r.text


def test_org_admins_and_the_platform_admin_keep_their_powers(client: Any, tenants: Any) -> None:
    a = tenants.a
    r = client.post("/api/tokens", headers=a.headers(admin=True), json={"user_id": a.member.id})
    assert r.status_code == 201 and r.json()["token"]
    r = _patch_user(client, a.headers(admin=True), a.member.id, {"roles": ["org_admin"]})
    assert r.status_code == 200
    # An org admin still grants no oversight role in their own organization.
    r = _patch_user(client, a.headers(admin=True), a.member.id, {"roles": ["regulator"]})
    assert r.status_code == 403
    pa = tenants.operator.headers(admin=True)
    r = client.post("/api/tokens", headers=pa, json={"user_id": tenants.regulator.admin.id})
    assert r.status_code == 201 and r.json()["token"]
    r = _patch_user(client, pa, tenants.b.member.id, {"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = client.patch(f"/api/organizations/{tenants.b.org.id}", headers=pa, json={"is_sme": True})
    assert r.status_code == 200


def test_a_member_cannot_choose_the_assignee_of_a_case(client: Any, tenants: Any) -> None:
    body = {"title": "x", "assignee_org_id": tenants.regulator.org.id}
    r = client.post("/api/cases", headers=tenants.a.headers(), json=body)
    assert r.status_code == 403, r.text
    assert r.json()["field"] == "assignee_org_id"
    r = client.post("/api/cases", headers=tenants.a.headers(), json={"title": "x"})
    assert r.status_code == 201
    r = client.post("/api/cases", headers=tenants.a.headers(admin=True), json=body)
    assert r.status_code == 201 and r.json()["assignee_org_id"] == tenants.regulator.org.id


def test_the_admin_page_offers_only_what_the_service_accepts(client: Any, tenants: Any) -> None:
    def page_as(user: Any) -> str:
        client.cookies.clear()
        r = client.post(
            "/login",
            data={"username": user.username, "password": "password123", "next": "/admin"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return str(client.get("/admin").text)

    html = page_as(tenants.regulator.admin)
    offered = set(re.findall(r'<option value="(\d+)">', html))
    assert offered == {str(tenants.regulator.org.id)}
    assert '<option value="regulator">' not in html and '<option value="org_admin">' in html
    html = page_as(tenants.operator.admin)
    assert str(tenants.a.org.id) in set(re.findall(r'<option value="(\d+)">', html))
    assert '<option value="regulator">监管人员</option>' in html
    assert 'action="/admin/users"' not in page_as(tenants.a.member)
