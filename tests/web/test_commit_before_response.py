"""The request's unit of work commits before the answer leaves: no 201 for work a commit loses."""

from __future__ import annotations

from typing import Any

import pytest

from mingyue.core.uow import UnitOfWork


def test_a_failing_commit_is_the_answer_not_a_201(
    client: Any, tenants: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ha = tenants.a.headers()

    def broken_commit(self: UnitOfWork) -> None:
        raise RuntimeError("the database refused the commit")

    monkeypatch.setattr(UnitOfWork, "commit", broken_commit)
    r = client.post("/api/cases", json={"title": "数据出境备案"}, headers=ha)
    # with the commit after the response (FastAPI's default dependency scope) this was a 201
    assert r.status_code == 500, r.text
    monkeypatch.undo()
    assert client.get("/api/cases", headers=ha).json() == []  # and nothing was kept


def test_what_a_201_promises_is_readable_at_once(client: Any, tenants: Any) -> None:
    ha = tenants.a.headers()
    for n in range(5):
        r = client.post("/api/cases", json={"title": f"备案 {n}"}, headers=ha)
        assert r.status_code == 201
        got = client.get(f"/api/cases/{r.json()['id']}", headers=ha)
        assert got.status_code == 200 and got.json()["title"] == f"备案 {n}"
