"""API of policy-service: profiles validated field by field, eligibility, two tenants kept apart."""

from __future__ import annotations

from typing import Any


def _profile(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "industry_code": "I6513",
        "district": "两江新区",
        "park": "明月湖",
        "qualifications": ["hnte"],
        "sectors": ["ai"],
        "headcount": 45,
        "revenue": "3000",
        "rd_spend": "400",
        "established": "2021-05-01",
    }
    body.update(kw)
    return body


def test_profile_round_trip_and_derived_size(client: Any, tenants: Any) -> None:
    h = tenants.a.headers()
    r = client.put("/api/policy/profile", json=_profile(), headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["industry_code"] == "I6513" and out["derived_size_class"] == "small"
    assert out["is_sme"] is True and out["exists"] is True
    got = client.get("/api/policy/profile", headers=h).json()
    assert got["revenue"] == "3000" and got["qualifications"] == ["hnte"]
    # digits alone are read as their section
    r = client.put("/api/policy/profile", json=_profile(industry_code="6513"), headers=h)
    assert r.json()["industry_code"] == "I6513"


def test_bad_profile_fields_name_the_field(client: Any, tenants: Any) -> None:
    h = tenants.a.headers()
    for body, field in [
        (_profile(industry_code="I13"), "industry_code"),  # division 13 is manufacturing
        (_profile(industry_code="Z99"), "industry_code"),
        (_profile(qualifications=["nobel"]), "qualifications"),
        (_profile(headcount=-1), "headcount"),
        (_profile(revenue="lots"), "revenue"),
        (_profile(listing="moon"), "listing"),
        ({**_profile(), "extra": 1}, "extra"),
    ]:
        r = client.put("/api/policy/profile", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text, r.text
    r = client.put("/api/policy/profile", json=_profile(established="2999-01-01"), headers=h)
    assert r.status_code == 422 and r.json()["field"] == "established"


def test_eligibility_reasons_per_condition(client: Any, tenants: Any) -> None:
    h = tenants.a.headers()
    client.put("/api/policy/profile", json=_profile(), headers=h)
    rows = client.get("/api/policy/eligibility", headers=h).json()
    by = {r["measure"]["key"]: r for r in rows}
    assert by["free-compute-pool"]["verdict"] == "eligible"
    assert by["free-compute-pool"]["measure"]["clause_id"].endswith("#三.（十二）")
    assert by["free-compute-pool"]["measure"]["no_application"] is True
    assert by["new-rd-institution"]["verdict"] == "missing"
    assert [c["id"] for c in by["new-rd-institution"]["checks"] if c["status"] == "unmet"] == [
        "institution"
    ]
    assert by["loan-interest-subsidy"]["verdict"] == "likely"  # a loan is the bureau's call
    one = client.get("/api/policy/eligibility?measure=listing-reward", headers=h).json()
    assert len(one) == 1 and one[0]["verdict"] == "missing"
    assert client.get("/api/policy/eligibility?measure=nope", headers=h).status_code == 404


def test_two_tenants_do_not_see_each_other(client: Any, tenants: Any) -> None:
    ha, hb = tenants.a.headers(), tenants.b.headers()
    client.put("/api/policy/profile", json=_profile(), headers=ha)
    a = tenants.a.org.id
    assert client.get(f"/api/policy/profile?organization_id={a}", headers=hb).status_code == 404
    assert client.get(f"/api/policy/eligibility?organization_id={a}", headers=hb).status_code == 404
    assert [
        p["organization_id"] for p in client.get("/api/policy/profiles", headers=hb).json()
    ] == []
    # officials reach every enterprise they oversee
    hr = tenants.operator.headers()  # reviewer
    assert client.get(f"/api/policy/eligibility?organization_id={a}", headers=hr).status_code == 200
    regs = client.get("/api/policy/profiles", headers=tenants.regulator.headers()).json()
    assert [p["organization_id"] for p in regs] == [a]
    # a regulator or reviewer keeps no profile of its own
    r = client.put("/api/policy/profile", json=_profile(), headers=hr)
    assert r.status_code == 403
    # nobody edits another's profile: the route acts on the caller's own organization only
    r = client.put("/api/policy/profile", json=_profile(headcount=1), headers=hb)
    assert r.status_code == 200
    assert client.get("/api/policy/profile", headers=ha).json()["headcount"] == 45


def test_requests_and_pushes_stay_with_their_enterprise(client: Any, tenants: Any) -> None:
    ha, hb = tenants.a.headers(), tenants.b.headers()
    r = client.post(
        "/api/policy/requests",
        json={"text": "高新技术企业认定的研发费用占比要求是多少？"},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert client.get(f"/api/policy/requests/{rid}", headers=hb).status_code == 404
    assert client.get("/api/policy/requests", headers=hb).json() == []
    r = client.post(
        f"/api/policy/requests/{rid}/dispatch",
        json={"department": "sci", "kind": "consult"},
        headers=hb,
    )
    assert r.status_code == 403
    assert client.post("/api/policy/pushes/1/read", headers=hb).status_code == 404
    # only the desk starts campaigns and uploads statistics
    assert (
        client.post(
            "/api/policy/campaigns", json={"measure_key": "listing-reward"}, headers=ha
        ).status_code
        == 403
    )
    up = client.post(
        "/api/policy/indicators/uploads",
        files={"file": ("s.csv", "指标,地区,期间,数值\n".encode())},
        headers=ha,
    )
    assert up.status_code == 403
    assert client.post("/api/policy/requests", json={"text": ""}, headers=ha).status_code == 422
    too_long = client.post("/api/policy/requests", json={"text": "字" * 2001}, headers=ha)
    assert too_long.status_code == 422


def test_measures_and_indicators_are_readable_by_every_role(client: Any, tenants: Any) -> None:
    for h in (tenants.a.headers(), tenants.regulator.headers(), tenants.operator.headers()):
        ms = client.get("/api/policy/measures", headers=h).json()
        assert {m["key"] for m in ms} >= {"free-compute-pool", "listing-reward"}
        inds = client.get("/api/policy/indicators", headers=h).json()
        de = next(i for i in inds if i["key"] == "de_gdp_share")
        assert de["targets"]["重庆市"] == {"2022": "40"}
    assert client.get("/api/policy/measures").status_code == 401
