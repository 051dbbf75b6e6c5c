"""Signed ledger heads: made automatically, kept outside the database, and held against it
(GitHub issue 12, item 7: the tail of the ledger could be cut undetected)."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select, text

from mingyue.core import clock
from mingyue.core.config import Settings
from mingyue.core.db import get_engine, system_session
from mingyue.core.ledger import audit, heads, keys
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work


def _write(settings: Settings, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with unit_of_work(SYSTEM, settings) as uow:
            uow.audit("core.org.updated", f"core_organization:{i}", {"i": i})


def _drop_triggers(settings: Settings) -> None:
    eng = get_engine(settings)
    with eng.begin() as c:
        if eng.dialect.name == "postgresql":
            c.execute(text("DROP TRIGGER IF EXISTS core_audit_entry_no_change ON core_audit_entry"))
        else:
            c.exec_driver_sql("DROP TRIGGER IF EXISTS core_audit_entry_no_update")
            c.exec_driver_sql("DROP TRIGGER IF EXISTS core_audit_entry_no_delete")


def _cut_tail(settings: Settings, after: int, *, checkpoints_too: bool) -> None:
    """What an attacker with database access does: drop the triggers, delete the tail."""
    _drop_triggers(settings)
    with get_engine(settings).begin() as c:
        c.execute(text("DELETE FROM core_audit_entry WHERE seq > :n"), {"n": after})
        if checkpoints_too:
            c.execute(text("DELETE FROM core_audit_checkpoint"))


def _verify(settings: Settings, *, with_file: bool = True) -> audit.VerifyReport:
    with system_session(settings, "test") as s:
        return audit.verify_chain(s, settings=settings if with_file else None)


def _checkpoints(settings: Settings) -> int:
    with system_session(settings, "test") as s:
        return int(s.scalar(select(func.count()).select_from(audit.AuditCheckpoint)) or 0)


def _file_heads(settings: Settings) -> list[dict[str, Any]]:
    path = heads.heads_path(settings)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.mark.parametrize("checkpoints_too", [False, True])
def test_cut_tail_is_reported_as_truncated(
    settings: Settings, cli: Any, checkpoints_too: bool
) -> None:
    _write(settings, 12)
    assert audit.seal_head(settings, force=True) == 12
    assert [h["tree_size"] for h in _file_heads(settings)] == [12]
    _cut_tail(settings, 6, checkpoints_too=checkpoints_too)
    if checkpoints_too:
        # The database alone no longer shows it: only the head kept outside does.
        assert _verify(settings, with_file=False).ok
    rep = _verify(settings)
    assert not rep.ok and rep.problem == "truncated" and rep.first_bad_seq == 7
    assert rep.reason.startswith("ledger TRUNCATED: head signed at seq 12 (")
    assert "but the database ends at seq 6: entries 7–12 missing" in rep.reason
    r = cli("audit", "verify")
    assert r.exit_code == 1
    assert "ledger TRUNCATED" in r.stderr and "entries 7–12 missing" in r.stderr
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 1 and r.json()["problem"] == "truncated"
    assert r.json()["latest_head"]["tree_size"] == 12


def test_auto_checkpoint_refuses_to_sign_a_shorter_head(settings: Settings) -> None:
    _write(settings, 5)
    audit.seal_head(settings, force=True)
    _cut_tail(settings, 3, checkpoints_too=False)
    assert audit.seal_head(settings, force=True) is None
    assert _checkpoints(settings) == 1


def test_cut_tail_then_rewritten_is_reported(settings: Settings) -> None:
    _write(settings, 8)
    audit.seal_head(settings, force=True)
    _write(settings, 2, start=8)
    audit.seal_head(settings, force=True)  # heads at 8 and 10
    _cut_tail(settings, 5, checkpoints_too=True)
    _write(settings, 7, start=100)  # new entries re-chained over the cut: 12 entries again
    rep = _verify(settings)
    assert not rep.ok and rep.problem == "rewritten", rep.reason
    assert rep.first_bad_seq == 1  # no head before seq 8 matched: anything up to 8 is suspect
    assert "head signed at seq 8" in rep.reason


def test_heads_are_made_automatically_while_entries_are_written(settings: Settings) -> None:
    t0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with clock.frozen(t0):
        _write(settings, 3)
        assert _checkpoints(settings) == 0  # the first interval has not passed
        assert audit.seal_head(settings) is None  # the runners' tick: not due yet
        clock.advance(timedelta(seconds=heads.HEAD_INTERVAL_S))
        _write(settings, 1, start=3)  # the commit that crosses the interval signs a head
        assert _checkpoints(settings) == 1
        assert [h["tree_size"] for h in _file_heads(settings)] == [4]
        _write(settings, 2, start=4)  # within the next interval: no new head
        assert _checkpoints(settings) == 1
        clock.advance(timedelta(seconds=heads.HEAD_INTERVAL_S + 1))
        assert audit.seal_head(settings) == 6  # a quiet ledger: the tick signs its tail
        assert audit.seal_head(settings) is None  # nothing new: nothing signed
    assert [h["tree_size"] for h in _file_heads(settings)] == [4, 6]
    assert _verify(settings).ok


def test_concurrent_sealing_signs_one_head(settings: Settings) -> None:
    _write(settings, 4)
    results: list[int | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(audit.seal_head(settings, force=True)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=lambda r: r or 0) == [None, None, None, 4]
    assert _checkpoints(settings) == 1 and len(_file_heads(settings)) == 1


def test_rolled_back_head_is_not_kept_outside(settings: Settings) -> None:
    _write(settings, 2)
    with pytest.raises(RuntimeError), system_session(settings, "test") as s:
        audit.make_checkpoint(s, settings)
        raise RuntimeError("boom")
    assert _file_heads(settings) == [] and _checkpoints(settings) == 0


def _forged_line(settings: Settings, tree_size: int, *, own_key: bool) -> str:
    """A head for entries that never existed: signed with another key, or a copied signature."""
    other = Ed25519PrivateKey.generate()
    pub = base64.b64encode(other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    time = "2026-01-01T00:00:00.000000Z"
    root = "ab" * 32
    if own_key:  # claims the platform key, but the signature is not the platform's
        pub = keys.public_key_b64(settings)
    sig = base64.b64encode(other.sign(heads.checkpoint_message(tree_size, root, time))).decode()
    head = heads.SignedHead(tree_size, root, time, keys.key_id(pub), pub, sig)
    return json.dumps(head.to_dict()) + "\n"


@pytest.mark.parametrize("own_key", [False, True])
def test_forged_head_is_refused(settings: Settings, cli: Any, own_key: bool) -> None:
    _write(settings, 3)
    audit.seal_head(settings, force=True)
    with heads.heads_path(settings).open("a") as fh:
        fh.write(_forged_line(settings, 999, own_key=own_key))
    rep = _verify(settings)
    assert not rep.ok and rep.problem == "forged_head", rep.reason
    assert rep.latest_head is not None and rep.latest_head["tree_size"] == 3  # never believed
    assert "line 2" in rep.reason and "forged head refused" in rep.reason
    assert "TRUNCATED" not in rep.reason
    r = cli("audit", "verify")
    assert r.exit_code == 1 and "forged head refused" in r.stderr


def test_torn_last_line_is_ignored(settings: Settings) -> None:
    _write(settings, 2)
    audit.seal_head(settings, force=True)
    with heads.heads_path(settings).open("a") as fh:
        fh.write('{"type": "mingyue-ledger-head", "tree_si')
    rep = _verify(settings)
    assert rep.ok and rep.heads_checked == 1, rep.reason


def test_cli_verify_ok_names_the_latest_head(settings: Settings, cli: Any) -> None:
    _write(settings, 3)
    audit.seal_head(settings, force=True)
    r = cli("audit", "verify")
    assert r.exit_code == 0, r.stderr
    assert "1 heads from the heads file; latest head at seq 3" in r.stderr


def test_app_shutdown_signs_a_head(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from mingyue.web.app import create_app

    with TestClient(create_app(settings, start_workers=False)) as c:
        assert c.get("/api/health").status_code == 200
        _write(settings, 3)
    assert [h["tree_size"] for h in _file_heads(settings)] == [3]


class _Witness(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - one test server per test
    got = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()
        type(self).got.set()

    def log_message(self, *args: Any) -> None:
        return


def test_witness_receives_each_head(settings: Settings) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Witness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = settings.model_copy(
            update={"ledger_witness_url": f"http://127.0.0.1:{server.server_port}/heads"}
        )
        _write(s, 2)
        audit.seal_head(s, force=True)
        assert _Witness.got.wait(10)
    finally:
        server.shutdown()
        server.server_close()
    assert _Witness.received[-1] == _file_heads(settings)[-1]
    assert _Witness.received[-1]["tree_size"] == 2


def test_witness_url_is_checked_and_a_dead_witness_never_blocks(settings: Settings) -> None:
    def url(u: str) -> str | None:
        return heads.witness_url(settings.model_copy(update={"ledger_witness_url": u}))

    assert url("https://witness.example.org/heads") == "https://witness.example.org/heads"
    assert url("http://127.0.0.1:9/x") == "http://127.0.0.1:9/x"
    assert url("http://witness.example.org/heads") is None  # plain http off the host
    assert url("https://user:pw@witness.example.org/") is None
    assert url("file:///etc/passwd") is None
    s = settings.model_copy(update={"ledger_witness_url": "http://127.0.0.1:9/heads"})
    _write(s, 1)
    assert audit.seal_head(s, force=True) == 1  # the refused POST is logged, not raised
    head = heads.SignedHead.from_dict(_file_heads(settings)[0])
    assert heads.post_to_witness("http://127.0.0.1:9/heads", head) is False
