"""A rectification case moves only through the supervision service, never around it."""

from __future__ import annotations

from typing import Any

from .conftest import Verifier


def test_core_case_transition_around_the_service_is_refused(
    client: Any, tenants: Any, raise_: Any, verifier: Verifier
) -> None:
    f = raise_(tenants.a.org.id)
    r = client.post(
        "/api/supervision/rectifications",
        json={"finding_id": f.id},
        headers=tenants.regulator.headers(),
    )
    case_id = r.json()["case_id"]
    for name, h in (("report", tenants.a.headers()), ("decide", tenants.regulator.headers())):
        res = client.post(f"/api/cases/{case_id}/transitions", json={"name": name}, headers=h)
        assert res.status_code == 409, res.text
        assert res.json()["key"] == "supervision.use_service"
    rect = client.get(
        f"/api/supervision/rectifications/{r.json()['id']}", headers=tenants.a.headers()
    ).json()
    assert rect["status"] == "ordered"
