"""CLI: the findings contract (kept stable for outside checks), order, rectifications, documents."""

from __future__ import annotations

from typing import Any

from .conftest import LISTED, Verifier


def test_findings_contract_and_verbs(
    cli: Any, tenants: Any, raise_: Any, verifier: Verifier
) -> None:
    fa = raise_(tenants.a.org.id)
    raise_(tenants.b.org.id, subject="app:com.other")
    r = cli("supervision", "findings", "--as", tenants.regulator.member.username, "--json")
    assert r.exit_code == 0, r.stderr
    rows = r.json()
    assert len(rows) == 2
    for row in rows:
        assert {
            "id",
            "enabler",
            "organization",
            "rule",
            "severity",
            "status",
            "subject",
            "first_seen",
            "last_seen",
        } <= set(row)
        assert row["enabler"] == "appcheck" and row["rule"] == LISTED
    mine = cli("supervision", "findings", "--as", tenants.a.member.username, "--json").json()
    assert [m["id"] for m in mine] == [fa.id]
    assert mine[0]["organization"] == tenants.a.org.name and mine[0]["status"] == "open"

    bad = cli("supervision", "findings", "--as", tenants.a.member.username, "--severity", "huge")
    assert bad.exit_code == 2 and "severity" in bad.stderr
    assert cli("supervision", "findings").exit_code == 2  # --as is required

    refused = cli("supervision", "order", str(fa.id), "--as", tenants.a.admin.username)
    assert refused.exit_code == 1 and "forbidden" in refused.stderr
    r = cli("supervision", "order", str(fa.id), "--as", tenants.regulator.member.username, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["working_days"] == 10
    rows = cli("supervision", "rectifications", "--as", tenants.a.member.username, "--json").json()
    assert [x["finding_id"] for x in rows] == [fa.id]
    assert (
        cli("supervision", "rectifications", "--as", tenants.b.member.username, "--json").json()
        == []
    )

    docs = cli("supervision", "documents", "--as", tenants.a.member.username, "--json")
    assert docs.exit_code == 0, docs.stderr
    assert {d["kind"] for d in docs.json()} == {"exemption_list", "guideline"}
