"""`mingyue demo`: the documented JSON, logins that work, and a second run that does not fail."""

from __future__ import annotations


def test_demo_twice_and_logins_work(cli, client) -> None:
    first = cli("demo", "--json")
    assert first.exit_code == 0, first.stderr
    data = first.json()
    assert set(data) >= {"url", "users"}
    assert len(data["users"]) == 8
    for u in data["users"]:
        assert set(u) >= {"username", "password", "organization", "role", "api_token"}
    kinds = {u["organization"] for u in data["users"]}
    assert len(kinds) == 4
    again = cli("demo", "--json")
    assert again.exit_code == 0, again.stderr
    user = again.json()["users"][2]
    r = client.post(
        "/login",
        data={"username": user["username"], "password": user["password"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.get("/api/cases", headers={"Authorization": f"Bearer {user['api_token']}"})
    assert r.status_code == 200 and len(r.json()) >= 1
