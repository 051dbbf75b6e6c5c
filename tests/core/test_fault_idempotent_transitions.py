"""A transition sent again with its Idempotency-Key is recognised, not applied twice.

The situation it guards: the commit succeeded but the answer was lost (a database restart, a
dropped connection), so the client sends the same request again.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core import cases
from mingyue.core.db import system_session
from mingyue.core.errors import Conflict, InvalidInput
from mingyue.core.ledger.audit import AuditEntry


def _open(client: Any, tenants: Any) -> int:
    r = client.post("/api/cases", json={"title": "重放测试"}, headers=tenants.a.headers())
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _moves(settings: Any, case_id: int) -> list[dict[str, Any]]:
    with system_session(settings, "test: read ledger") as s:
        payloads: list[dict[str, Any]] = list(
            s.scalars(
                select(AuditEntry.payload)
                .where(
                    AuditEntry.subject == f"core_case:{case_id}",
                    AuditEntry.action == "core.case.transitioned",
                )
                .order_by(AuditEntry.seq)
            )
        )
    return payloads


def test_repeated_key_is_answered_not_applied(client: Any, tenants: Any, settings: Any) -> None:
    cid = _open(client, tenants)
    hr = tenants.operator.headers()  # a reviewer
    key = str(uuid.uuid4())
    first = client.post(
        f"/api/cases/{cid}/transitions",
        json={"name": "start_review"},
        headers={**hr, "Idempotency-Key": key},
    )
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "in_review"
    assert "Idempotent-Replayed" not in first.headers
    # The same request again (its answer was "lost"): the case is answered as it stands.
    again = client.post(
        f"/api/cases/{cid}/transitions",
        json={"name": "start_review"},
        headers={**hr, "Idempotency-Key": key},
    )
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["state"] == "in_review"
    assert again.json()["state_entered_at"] == first.json()["state_entered_at"]
    # Without the key the same move is what it always was: refused in this state.
    r = client.post(f"/api/cases/{cid}/transitions", json={"name": "start_review"}, headers=hr)
    assert r.status_code == 409 and r.json()["key"] == "core.case.bad_state"
    # One history line and one ledger entry, the key stored with both.
    moves = _moves(settings, cid)
    assert [m["transition"] for m in moves] == ["start_review"]
    assert moves[0]["idempotency_key"] == key
    detail = client.get(f"/api/cases/{cid}", headers=hr).json()
    assert [e["name"] for e in detail["events"] if e["kind"] == "transition"] == ["start_review"]
    # A new key is a new request: the next move is taken.
    r = client.post(
        f"/api/cases/{cid}/transitions",
        json={"name": "return", "comment": "补充材料"},
        headers={**hr, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 200 and r.json()["state"] == "returned"
    assert [m["transition"] for m in _moves(settings, cid)] == ["start_review", "return"]


def test_key_reused_for_another_request_is_refused(client: Any, tenants: Any) -> None:
    cid = _open(client, tenants)
    hr = {**tenants.operator.headers(), "Idempotency-Key": "k-" + uuid.uuid4().hex}
    assert (
        client.post(
            f"/api/cases/{cid}/transitions", json={"name": "start_review"}, headers=hr
        ).status_code
        == 200
    )
    r = client.post(
        f"/api/cases/{cid}/transitions", json={"name": "return", "comment": "x"}, headers=hr
    )
    assert r.status_code == 422, r.text
    assert r.json()["key"] == "core.case.idempotency_key_reused"
    assert r.json()["field"] == "Idempotency-Key"
    r = client.get(f"/api/cases/{cid}", headers=tenants.operator.headers())
    assert r.json()["state"] == "in_review"


@pytest.mark.parametrize("bad", ["short", "has space in it", "é" * 10, "x" * 129])
def test_bad_key_is_refused(client: Any, tenants: Any, bad: str) -> None:
    cid = _open(client, tenants)
    headers = {**tenants.operator.headers(), "Idempotency-Key": bad}
    try:
        r = client.post(
            f"/api/cases/{cid}/transitions", json={"name": "start_review"}, headers=headers
        )
    except UnicodeEncodeError:  # httpx will not send a non-ASCII header; the service check
        with pytest.raises(InvalidInput) as exc:
            cases.service.check_idempotency_key(bad)
        assert exc.value.key == "core.case.bad_idempotency_key"
        return
    assert r.status_code == 422, r.text
    assert r.json()["key"] in ("core.case.bad_idempotency_key", "core.invalid_input")
    state = client.get(f"/api/cases/{cid}", headers=tenants.operator.headers()).json()["state"]
    assert state == "submitted"


def test_key_of_another_tenant_reveals_nothing(client: Any, tenants: Any) -> None:
    cid = _open(client, tenants)
    key = str(uuid.uuid4())
    r = client.post(
        f"/api/cases/{cid}/transitions",
        json={"name": "withdraw"},
        headers={**tenants.a.headers(), "Idempotency-Key": key},
    )
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    # Tenant b replays a's key on a's case: not found, not a replayed answer.
    r = client.post(
        f"/api/cases/{cid}/transitions",
        json={"name": "withdraw"},
        headers={**tenants.b.headers(admin=True), "Idempotency-Key": key},
    )
    assert r.status_code == 404 and "Idempotent-Replayed" not in r.headers


def test_service_replay_is_flagged(uow_as: Any, actor_of: Any, tenants: Any) -> None:
    member = actor_of(tenants.a.member)
    with uow_as(member) as uow:
        c = cases.open_case(
            uow=uow, kind="core.general", title="t", organization_id=member.organization_id
        )
    for replayed in (False, True):
        with uow_as(member) as uow:
            taken = cases.service.take_transition(
                uow=uow, case_id=c.id, name="withdraw", idempotency_key="service-key-1"
            )
        assert taken.replayed is replayed and taken.case.state == "withdrawn"


def _race(uow_as: Any, member: Any, case_id: int, keys: tuple[str | None, str | None]) -> list[Any]:
    """Run two transitions at once: the first holds its transaction open for a moment."""
    started = threading.Event()
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        if i == 1:
            started.wait(10)
        try:
            with uow_as(member) as uow:
                results[i] = cases.service.take_transition(
                    uow=uow, case_id=case_id, name="withdraw", idempotency_key=keys[i]
                )
                if i == 0:
                    started.set()
                    time.sleep(0.5)  # the second arrives while this one is uncommitted
        except Exception as exc:
            results[i] = exc
        finally:
            started.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    return results


def test_retry_racing_its_original_is_applied_once(
    uow_as: Any, actor_of: Any, tenants: Any, settings: Any
) -> None:
    member = actor_of(tenants.a.member)
    with uow_as(member) as uow:
        c = cases.open_case(
            uow=uow, kind="core.general", title="t", organization_id=member.organization_id
        )
    first, second = _race(uow_as, member, c.id, ("race-key-0001", "race-key-0001"))
    assert first.replayed is False and second.replayed is True, (first, second)
    assert [m["transition"] for m in _moves(settings, c.id)] == ["withdraw"]


def test_two_moves_from_one_state_do_not_both_apply(
    uow_as: Any, actor_of: Any, tenants: Any, settings: Any
) -> None:
    member = actor_of(tenants.a.member)
    with uow_as(member) as uow:
        c = cases.open_case(
            uow=uow, kind="core.general", title="t", organization_id=member.organization_id
        )
    first, second = _race(uow_as, member, c.id, (None, None))
    assert first.case.state == "withdrawn"
    assert isinstance(second, Conflict) and second.key == "core.case.bad_state"
    assert [m["transition"] for m in _moves(settings, c.id)] == ["withdraw"]
