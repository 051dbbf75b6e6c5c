"""Backup and restore: demo data → backup → restore into an empty deployment (SQLite and
PostgreSQL) → the ledger verifies, a user logs in, every table's count matches; a tampered
archive, a wrong passphrase and a deployment that holds data are refused."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from mingyue import cli as cli_mod
from mingyue.core import config, migrate
from mingyue.core.config import Settings
from mingyue.core.db import dispose_engines, get_engine
from mingyue.core.ledger import keys
from mingyue.core.ops import sealing
from mingyue.core.ops.backup import create_backup, table_counts
from mingyue.core.ops.restore import restore_backup
from mingyue.demo import build_demo
from mingyue.testing import PG_ADMIN_URL
from mingyue.web.app import create_app
from mingyue.web.auth import actor_cache, login

PASS = b"correct horse battery staple"

SQLITE_DEPLOYMENT = (
    "exercises a SQLite deployment (file database, not stamped); on PostgreSQL the test database "
    "is shared and stamped, and its checks are covered by the PostgreSQL backup round trip"
)


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shipped work factor costs ~1 s per derivation; the parameters travel in the manifest.
    monkeypatch.setattr(sealing, "SCRYPT_N", 2**14)


def _use(data_dir: Path, database_url: str | None = None) -> Settings:
    dispose_engines()
    migrate.forget()
    actor_cache.clear()
    config.reset()
    return config.configure(data_dir=data_dir, env="test", database_url=database_url)


def _demo(data_dir: Path, database_url: str | None = None) -> tuple[Settings, dict[str, Any]]:
    s = _use(data_dir, database_url)
    migrate.upgrade(s)
    return s, build_demo(s)


def _counts(s: Settings) -> dict[str, int]:
    with get_engine(s).connect() as conn:
        return table_counts(conn)


def _cli(*args: str) -> Any:
    cli_mod._mount_plugins_once()
    return CliRunner().invoke(cli_mod.app, list(args), catch_exceptions=False)


def _assert_restored(s: Settings, demo: dict[str, Any], counts: dict[str, int], pub: str) -> None:
    assert _counts(s) == counts
    assert keys.public_key_b64(s) == pub
    res = _cli("audit", "verify", "--data-dir", str(s.data_dir))
    assert res.exit_code == 0, res.stderr
    assert "ledger OK" in res.stderr
    user = demo["users"][0]
    actor = login(s, user["username"], user["password"], "127.0.0.1")
    assert actor.username == user["username"]
    with TestClient(create_app(s, start_workers=False)) as client:
        r = client.get("/api/cases", headers={"Authorization": f"Bearer {user['api_token']}"})
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def sqlite_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    mp = pytest.MonkeyPatch()
    mp.setattr(sealing, "SCRYPT_N", 2**14)
    root = tmp_path_factory.mktemp("bk")
    try:
        s, demo = _demo(root / "source")
        archive = root / "demo.tar.gz"
        manifest = create_backup(s, archive, PASS)
        yield {
            "archive": archive,
            "manifest": manifest,
            "demo": demo,
            "counts": _counts(s),
            "public_key": keys.public_key_b64(s),
            "root": root,
        }
    finally:
        mp.undo()
        dispose_engines()
        migrate.forget()
        config.reset()


@pytest.mark.slow
def test_sqlite_round_trip(sqlite_backup: dict[str, Any], tmp_path: Path) -> None:
    manifest = sqlite_backup["manifest"]
    assert manifest["database"]["kind"] == "sqlite"
    assert manifest["alembic"]["current"] and manifest["alembic"]["heads"]
    assert manifest["counts"] == sqlite_backup["counts"]
    assert any(n.startswith("data/ledger/") for n in manifest["members"])
    assert any(n.startswith("data/files/") for n in manifest["members"])
    # the keys travel encrypted only
    with tarfile.open(sqlite_backup["archive"]) as tar:
        names = tar.getnames()
        blob = tar.extractfile("keys.enc").read()  # type: ignore[union-attr]
    assert not any("keys/" in n or n.endswith(".pem") for n in names)
    assert b"PRIVATE KEY" not in blob

    target = _use(tmp_path / "restored")
    report = restore_backup(target, sqlite_backup["archive"], PASS)
    assert report.ledger_ok and report.ledger_entries == sqlite_backup["counts"]["core_audit_entry"]
    key = keys.key_path(target)
    assert key.stat().st_mode & 0o077 == 0
    _assert_restored(
        target, sqlite_backup["demo"], sqlite_backup["counts"], sqlite_backup["public_key"]
    )


@pytest.mark.slow
def test_restore_refuses_a_deployment_with_data(sqlite_backup: dict[str, Any]) -> None:
    target = _use(sqlite_backup["root"] / "source")
    res = _cli(
        "restore",
        str(sqlite_backup["archive"]),
        "--passphrase-file",
        str(_passfile(sqlite_backup["root"], PASS)),
        "--data-dir",
        str(target.data_dir),
    )
    assert res.exit_code == 1
    assert "refusing to restore into a deployment that holds data" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _passfile(where: Path, value: bytes) -> Path:
    path = where / f"pass-{len(value)}-{value[:3].hex()}"
    path.write_bytes(value + b"\n")
    return path


@pytest.mark.slow
def test_wrong_passphrase_refused_and_nothing_written(
    sqlite_backup: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "t"
    res = _cli(
        "restore",
        str(sqlite_backup["archive"]),
        "--passphrase-file",
        str(_passfile(tmp_path, b"not the passphrase at all")),
        "--data-dir",
        str(target),
    )
    assert res.exit_code == 2
    assert "wrong passphrase" in res.stderr
    left = [p for p in target.rglob("*") if p.is_file() and p.name != "session_secret"]
    assert left == []


def _rewrite(src: Path, dest: Path, change: dict[str, bytes]) -> None:
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for info in tin.getmembers():
            data = tin.extractfile(info).read()  # type: ignore[union-attr]
            data = change.get(info.name, data)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


@pytest.mark.slow
def test_tampered_archives_refused(sqlite_backup: dict[str, Any], tmp_path: Path) -> None:
    with tarfile.open(sqlite_backup["archive"]) as tar:
        body = tar.extractfile("manifest.json").read()  # type: ignore[union-attr]
        data_member = next(n for n in tar.getnames() if n.startswith("data/files/"))
        original = tar.extractfile(data_member).read()  # type: ignore[union-attr]
        db = tar.extractfile("db/mingyue.sqlite3").read()  # type: ignore[union-attr]
        keys_blob = tar.extractfile("keys.enc").read()  # type: ignore[union-attr]
    manifest = json.loads(body)
    manifest["counts"]["core_user"] += 1
    forged = json.dumps(manifest, sort_keys=True, indent=1).encode()
    flipped = bytes([original[0] ^ 1]) + original[1:]
    cases = {
        "member": ({data_member: flipped}, f"{data_member}: SHA-256 differs"),
        "database": ({"db/mingyue.sqlite3": db[:-1] + bytes([db[-1] ^ 1])}, "SHA-256 differs"),
        "manifest": ({"manifest.json": forged}, "manifest.json was altered"),
        "keys": ({"keys.enc": keys_blob[:-1] + bytes([keys_blob[-1] ^ 1])}, "SHA-256 differs"),
    }
    passfile = _passfile(tmp_path, PASS)
    for name, (change, expected) in cases.items():
        bad = tmp_path / f"{name}.tar"
        _rewrite(sqlite_backup["archive"], bad, change)
        target = tmp_path / f"target-{name}"
        res = _cli(
            "restore", str(bad), "--passphrase-file", str(passfile), "--data-dir", str(target)
        )
        assert res.exit_code == 1, (name, res.stderr)
        assert "backup refused" in res.stderr and expected in res.stderr, (name, res.stderr)
        assert not (target / "mingyue.sqlite3").exists()
        assert not (target / "keys" / "platform_ed25519.pem").exists()


@pytest.mark.skipif(
    os.environ.get("MINGYUE_TEST_DB") == "pg",
    reason=SQLITE_DEPLOYMENT,
)
def test_backup_cli_refuses_bad_input(settings: Settings, tmp_path: Path) -> None:
    short = _passfile(tmp_path, b"short")
    res = _cli("backup", "--out", str(tmp_path / "b.tar"), "--passphrase-file", str(short))
    assert res.exit_code == 2 and "at least 12 characters" in res.stderr
    inside = settings.data_dir / "b.tar"
    res = _cli("backup", "--out", str(inside), "--passphrase-file", str(_passfile(tmp_path, PASS)))
    assert res.exit_code == 2 and "outside the data dir" in res.stderr
    res = _cli(
        "restore", str(short), "--passphrase-file", str(short), "--data-dir", str(tmp_path / "x")
    )
    assert res.exit_code == 2 and "not a tar archive" in res.stderr


@pytest.mark.pg
@pytest.mark.slow
def test_postgres_round_trip(tmp_path: Path) -> None:
    names = [f"mingyue_bk_{os.getpid()}_{side}" for side in ("src", "dst")]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        with admin.connect() as c:
            for name in names:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for this test: {exc}")
    try:
        s, demo = _demo(tmp_path / "source", f"{base}/{names[0]}")
        counts, pub = _counts(s), keys.public_key_b64(s)
        archive = tmp_path / "pg.tar"
        manifest = create_backup(s, archive, PASS)
        assert manifest["database"]["kind"] == "postgresql"
        assert manifest["counts"] == counts

        target = _use(tmp_path / "restored", f"{base}/{names[1]}")
        report = restore_backup(target, archive, PASS)
        assert report.ledger_ok
        _assert_restored(target, demo, counts, pub)
        # the restored ledger still refuses UPDATE (the dump carried the triggers)
        with pytest.raises(Exception, match="append-only"), get_engine(target).begin() as c:
            c.execute(text("UPDATE core_audit_entry SET actor='x'"))
        # a second restore into the same, now populated, database is refused
        again = _use(tmp_path / "again", f"{base}/{names[1]}")
        res = _cli(
            "restore",
            str(archive),
            "--passphrase-file",
            str(_passfile(tmp_path, PASS)),
            "--data-dir",
            str(again.data_dir),
        )
        assert res.exit_code == 1 and "the database holds" in res.stderr
    finally:
        dispose_engines()
        migrate.forget()
        config.reset()
        with admin.connect() as c:
            for name in names:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
