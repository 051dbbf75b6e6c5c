"""`mingyue demo` shows a whole cross-border story: assessment, filing case, declared transfer,
observed flows with an undeclared overseas endpoint raised as a case."""

from __future__ import annotations

from typing import Any


def test_demo_filing_transfer_and_flows(cli: Any, client: Any) -> None:
    out = cli("demo", "--json")
    assert out.exit_code == 0, out.stderr
    token = {u["username"]: u["api_token"] for u in out.json()["users"]}
    h = {"Authorization": f"Bearer {token['ent2_admin']}"}
    filings = client.get("/api/crossborder/filings", headers=h).json()
    assert [(f["kind"], f["status"]) for f in filings] == [("standard_contract", "submitted")]
    transfers = client.get("/api/crossborder/transfers", headers=h).json()
    assert [t["endpoints"] for t in transfers] == [["api.partner-sg.example"]]
    flows = client.get("/api/crossborder/flows", headers=h).json()
    counts = {(c["recipient"], c["kind"]): c["individuals"] for c in flows["counts"]}
    assert counts[("Partner SG Pte. Ltd.", "pi")] > 300
    assert [(a["kind"], a["detail"]["country"]) for a in flows["alerts"]] == [
        ("undeclared_overseas_endpoint", "US")
    ]
    kinds = {c["kind"] for c in client.get("/api/cases", headers=h).json()}
    assert {"crossborder.standard_contract", "crossborder.flow_alert"} <= kinds
    # the other enterprise sees none of it
    h1 = {"Authorization": f"Bearer {token['ent1_admin']}"}
    assert client.get("/api/crossborder/filings", headers=h1).json() == []
    # a second demo run adds nothing
    assert cli("demo", "--json").exit_code == 0
    assert len(client.get("/api/crossborder/filings", headers=h).json()) == 1
