"""`mingyue demo`: the documented JSON, logins that work, and a second run that does not fail."""

from __future__ import annotations


def test_demo_twice_and_logins_work(cli, client) -> None:
    first = cli("demo", "--json")
    assert first.exit_code == 0, first.stderr
    data = first.json()
    assert set(data) >= {"url", "users"}
    names = [u["username"] for u in data["users"]]
    core = [f"{k}_{r}" for k in ("op", "ent1", "ent2", "reg") for r in ("admin", "member")]
    assert names[:8] == core
    # then the logins enablers' demos seeded (the city units' dispatchers), each with a password
    assert {"sanitation_dispatcher", "municipal_dispatcher"} <= set(names[8:])
    for u in data["users"]:
        assert set(u) >= {"username", "password", "organization", "role", "api_token"}
        assert u["password"]
    kinds = {u["organization"] for u in data["users"][:8]}
    assert len(kinds) == 4
    seeded = next(u for u in data["users"] if u["username"] == "sanitation_dispatcher")
    r = client.post(
        "/login",
        data={"username": seeded["username"], "password": seeded["password"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    client.cookies.clear()
    again = cli("demo", "--json")
    assert again.exit_code == 0, again.stderr
    assert [u["username"] for u in again.json()["users"]] == names
    user = again.json()["users"][2]
    r = client.post(
        "/login",
        data={"username": user["username"], "password": user["password"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.get("/api/cases", headers={"Authorization": f"Bearer {user['api_token']}"})
    assert r.status_code == 200 and len(r.json()) >= 1
