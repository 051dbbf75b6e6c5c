"""Every permission x every role x own/other organization, against the table in docs/security.md.

The table in ``docs/security.md`` ("Permission table") is the one statement of who may do what;
this test parses it and holds ``access.can`` to it (GitHub issue 12).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mingyue.core.declaration import Permission
from mingyue.core.plugins import registry
from mingyue.core.tenancy import access
from mingyue.core.tenancy.access import ROLES, SYSTEM, Actor, can, permissions

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
OWN_ORG, OTHER_ORG = 101, 202
CELLS = ("all", "own", "—")


def _table() -> tuple[list[str], dict[str, tuple[str, dict[str, str]]]]:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(
        r"<!-- permission-table:start -->\n(.*?)<!-- permission-table:end -->", text, re.S
    )
    assert m, "docs/security.md lost its permission table markers"
    lines = [ln.strip() for ln in m.group(1).strip().splitlines() if ln.strip()]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:2] == ["Permission", "Reach"], header
    roles = header[2:]
    rows: dict[str, tuple[str, dict[str, str]]] = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert len(cells) == len(header), f"malformed row: {ln}"
        name = cells[0].strip("`")
        assert name not in rows, f"{name} has two rows"
        assert all(c in CELLS for c in cells[2:]), f"bad cell in: {ln}"
        rows[name] = (cells[1], dict(zip(roles, cells[2:], strict=True)))
    return roles, rows


def _actor(*roles: str, org: int | None = OWN_ORG) -> Actor:
    return Actor(
        user_id=7, username="u", organization_id=org, org_kind="enterprise", roles=frozenset(roles)
    )


def _answer(actor: Actor, name: str) -> str:
    if not can(actor, name):
        return "—"
    own = can(actor, name, SimpleNamespace(organization_id=OWN_ORG))
    other = can(actor, name, SimpleNamespace(organization_id=OTHER_ORG))
    assert own, f"{name}: granted without an object but not on the actor's own organization"
    return "all" if other else "own"


def _live_row(name: str) -> str:
    spec = permissions()[name]
    return f"| `{name}` | {spec.reach} | " + " | ".join(_answer(_actor(r), name) for r in ROLES)


@pytest.fixture(scope="module")
def table() -> tuple[list[str], dict[str, tuple[str, dict[str, str]]]]:
    registry()
    return _table()


def test_the_table_covers_every_role_and_permission(table: Any) -> None:
    roles, rows = table
    assert roles == list(ROLES)
    registered = set(permissions())
    missing = sorted(registered - set(rows))
    assert not missing, "permissions without a row in docs/security.md (review, then paste):\n" + (
        "\n".join(_live_row(n) for n in missing)
    )
    assert not sorted(set(rows) - registered), "rows naming no registered permission"


@pytest.mark.parametrize("role", ROLES)
def test_every_permission_answers_as_the_table_says(table: Any, role: str) -> None:
    _, rows = table
    wrong = []
    for name, (reach, cells) in sorted(rows.items()):
        if name not in permissions():
            continue  # reported by the coverage test
        if permissions()[name].reach != reach:
            wrong.append(f"{name}: reach {permissions()[name].reach}, table says {reach}")
        got = _answer(_actor(role), name)
        if got != cells[role]:
            wrong.append(f"{name} as {role}: can() says {got}, table says {cells[role]}")
    assert not wrong, "\n".join(wrong)


def test_several_roles_get_the_union_of_their_rows(table: Any) -> None:
    # The issue-12 shape: an org_admin who is also a regulator must not manage other
    # organizations' users through the regulator's scope.
    _, rows = table
    rank = {"—": 0, "own": 1, "all": 2}
    wrong = []
    for a, b in itertools.combinations(ROLES, 2):
        actor = _actor(a, b)
        for name, (_, cells) in rows.items():
            if name not in permissions():
                continue
            want = max(cells[a], cells[b], key=rank.__getitem__)
            got = _answer(actor, name)
            if got != want:
                wrong.append(f"{name} as {a}+{b}: can() says {got}, union is {want}")
    assert not wrong, "\n".join(wrong)


def test_the_core_user_token_and_org_permissions_stay_narrow(table: Any) -> None:
    _, rows = table
    for name in ("core.user.manage", "core.token.manage"):
        reach, cells = rows[name]
        assert reach == "own"
        assert {r for r, c in cells.items() if c == "all"} == {"platform_admin"}
    assert rows["core.org.manage"][0] == "platform"


def test_the_system_actor_and_foreign_objects() -> None:
    registry()
    for name in permissions():
        assert can(SYSTEM, name, SimpleNamespace(organization_id=OTHER_ORG))
    # An object of no organization is reached only through a cross-organization role.
    nothing = SimpleNamespace(organization_id=None)
    assert not can(_actor("org_admin"), "core.user.manage", nothing)
    assert can(_actor("platform_admin"), "core.user.manage", nothing)
    # An actor of no organization owns nothing.
    assert not can(_actor("member", org=None), "core.case.read", nothing)


def test_registration_checks_the_reach() -> None:
    registry()
    with pytest.raises(ValueError, match="bad reach"):
        access.register_permission("core.test.bad_reach", ["member"], reach="everywhere")
    with pytest.raises(ValueError, match="platform_admin role alone"):
        access.register_permission("core.test.platform", ["org_admin"], reach="platform")
    assert "core.test.bad_reach" not in permissions()
    assert "core.test.platform" not in permissions()
    spec = access.register_permission("core.test.legacy_scope", ["member"], reach="scope")
    try:
        assert spec.reach == "supervised"
        assert Permission(roles=("member",)).reach == "supervised"
    finally:
        access._registry.perms.pop("core.test.legacy_scope")
