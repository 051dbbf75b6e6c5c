"""`mingyue demo` closes last month: each enterprise has an issued, populated statement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mingyue.core.config import Settings
from mingyue.demo import previous_month


def test_demo_issues_last_months_statements(cli: Any, client: Any, settings: Settings) -> None:
    out = cli("demo", "--json")
    assert out.exit_code == 0, out.stderr
    user = next(u for u in out.json()["users"] if u["username"] == "op_admin")
    headers = {"Authorization": f"Bearer {user['api_token']}"}
    month = previous_month(settings)
    listed = client.get("/api/statements", headers=headers, params={"month": month})
    assert listed.status_code == 200, listed.text
    statements = listed.json()
    assert len(statements) == 2  # both enterprises; a re-run issues nothing twice
    for st in statements:
        full = client.get(f"/api/statements/{st['id']}", headers=headers).json()
        assert {ln["band"] for ln in full["lines"]} == {"peak", "flat", "valley"}
        assert Decimal(full["total"]) > 0
    assert any(Decimal(st["free_credit"]) > 0 for st in statements)  # the SME's free calls
    assert cli("demo", "--json").exit_code == 0
    again = client.get("/api/statements", headers=headers, params={"month": month})
    assert len(again.json()) == 2
