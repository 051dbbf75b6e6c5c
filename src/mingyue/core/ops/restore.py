"""``mingyue restore``: a backup into an empty deployment, checked before anything is written.

Refused: a deployment that holds data (a database with tables, files in the data dir, a signing
key), a wrong passphrase, an archive whose manifest MAC, member list, a member's SHA-256 or the
encrypted keys do not verify, a backup of another database kind or of newer code. Then the
database is restored (SQLite file / ``pg_restore``), the files and keys are put in place, the
schema is upgraded when the backup is older, the row counts are compared with the manifest's and
the ledger is verified (what ``mingyue audit verify`` does).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect

from mingyue.core import migrate
from mingyue.core.config import SESSION_SECRET_FILE, Settings
from mingyue.core.db import dispose_engines, get_engine, system_session
from mingyue.core.errors import Conflict, InvalidInput
from mingyue.core.ledger import audit
from mingyue.core.ledger import keys as ledger_keys
from mingyue.core.ops import sealing
from mingyue.core.ops.backup import (
    FORMAT,
    FORMAT_VERSION,
    KEYS_MEMBER,
    MANIFEST,
    MANIFEST_MAC,
    PG_MEMBER,
    SQLITE_MEMBER,
    SQLITE_NAME,
    BackupError,
    pg_conninfo,
    run_pg_tool,
    table_counts,
)

_MAX_MANIFEST = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass
class RestoreReport:
    """What a restore did and found."""

    database: str
    counts: dict[str, int]
    files: int
    ledger_entries: int
    ledger_ok: bool
    ledger_reason: str
    upgraded: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return dict(self.__dict__)


def _empty_deployment_problem(settings: Settings) -> str:
    root = settings.data_dir.resolve()
    signing = ledger_keys.key_path(settings).resolve()
    if signing.exists():
        return f"a signing key exists ({signing.name})"
    if root.exists():
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                # Loading the settings of a dev/test data dir generates a session secret.
                if path == root / "keys" / SESSION_SECRET_FILE:
                    continue
                return f"the data dir holds {path.relative_to(root).as_posix()}"
    if not settings.is_sqlite:
        with get_engine(settings).connect() as conn:
            tables = inspect(conn).get_table_names()
        if tables:
            return f"the database holds {len(tables)} tables"
    return ""


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    return (
        bool(name)
        and "\\" not in name
        and not p.is_absolute()
        and ".." not in p.parts
        and (name in (MANIFEST, MANIFEST_MAC, KEYS_MEMBER) or p.parts[0] in ("data", "db"))
    )


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo, limit: int) -> bytes:
    if info.size > limit:
        raise sealing.Tampered(f"{info.name} is larger than any manifest")
    fh = tar.extractfile(info)
    if fh is None:
        raise sealing.Tampered(f"{info.name} is not a file")
    return fh.read()


def _check_members(tar: tarfile.TarFile, manifest: dict[str, Any]) -> dict[str, tarfile.TarInfo]:
    listed = manifest.get("members")
    if not isinstance(listed, dict):
        raise sealing.Tampered("manifest: no member list")
    found: dict[str, tarfile.TarInfo] = {}
    for info in tar.getmembers():
        if info.name in (MANIFEST, MANIFEST_MAC):
            continue
        if not info.isreg() or not _safe_name(info.name):
            raise sealing.Tampered(f"unexpected member {info.name!r}")
        if info.name in found:
            raise sealing.Tampered(f"member {info.name} appears twice")
        found[info.name] = info
    extra = sorted(set(found) - set(listed))
    missing = sorted(set(listed) - set(found))
    if extra or missing:
        raise sealing.Tampered(
            "the archive's members differ from the manifest's"
            + (f"; not listed: {', '.join(extra[:3])}" if extra else "")
            + (f"; missing: {', '.join(missing[:3])}" if missing else "")
        )
    for name, info in found.items():
        if info.size != int(listed[name].get("size", -1)):
            raise sealing.Tampered(f"{name}: size differs from the manifest")
    return found


def _extract_verified(
    tar: tarfile.TarFile, info: tarfile.TarInfo, dest: Path, expected: str
) -> None:
    fh = tar.extractfile(info)
    if fh is None:
        raise sealing.Tampered(f"{info.name} is not a file")
    sha = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            out.write(chunk)
    if sha.hexdigest() != expected:
        raise sealing.Tampered(f"{info.name}: SHA-256 differs from the manifest")


def _check_revisions(settings: Settings, manifest: dict[str, Any]) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(settings))
    for rev in manifest.get("alembic", {}).get("current", []):
        try:
            known = script.get_revision(str(rev))
        except CommandError:
            known = None
        if known is None:
            raise InvalidInput(
                "core.restore.newer",
                f"the backup's database is at revision {rev}, unknown to this mingyue "
                f"({manifest.get('mingyue_version')} made it): restore with that version or newer",
            )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def restore_backup(settings: Settings, archive: Path, passphrase: bytes) -> RestoreReport:
    """Restore ``archive`` into this (empty) deployment; return what was restored."""
    problem = _empty_deployment_problem(settings)
    if problem:
        raise Conflict(
            "core.restore.not_empty",
            f"refusing to restore into a deployment that holds data: {problem}",
        )
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as exc:
        raise InvalidInput("core.restore.not_a_backup", f"{archive} is not a tar archive") from exc
    with tar:
        try:
            m_info, mac_info = tar.getmember(MANIFEST), tar.getmember(MANIFEST_MAC)
        except KeyError as exc:
            raise InvalidInput(
                "core.restore.not_a_backup", f"{archive} has no mingyue manifest"
            ) from exc
        body = _read_member(tar, m_info, _MAX_MANIFEST)
        given_mac = _read_member(tar, mac_info, 1024).decode("ascii", "replace")
        try:
            manifest = json.loads(body)
        except ValueError as exc:
            raise sealing.Tampered("manifest.json is not JSON") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise InvalidInput("core.restore.not_a_backup", f"{archive} is not a mingyue backup")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise InvalidInput(
                "core.restore.format",
                f"backup format {manifest.get('format_version')} is not {FORMAT_VERSION}",
            )
        derived = sealing.derive(passphrase, manifest.get("kdf") or {})
        sealing.verify_passphrase(derived, manifest.get("passphrase_check", ""))
        sealing.verify_mac(derived, body, given_mac)
        members = _check_members(tar, manifest)
        kind = manifest["database"]["kind"]
        target = "sqlite" if settings.is_sqlite else "postgresql"
        if kind != target:
            raise InvalidInput(
                "core.restore.kind",
                f"the backup holds a {kind} database; this deployment uses {target}",
            )
        _check_revisions(settings, manifest)
        root = settings.data_dir.resolve()
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=root))
        try:
            for name, info in members.items():
                _extract_verified(tar, info, staging / name, manifest["members"][name]["sha256"])
            key_files = _decode_keys(sealing.decrypt(derived, (staging / KEYS_MEMBER).read_bytes()))
            if kind == "sqlite":
                _check_sqlite(staging / SQLITE_MEMBER, manifest["counts"])
            return _put_in_place(settings, manifest, staging, key_files)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _decode_keys(blob: bytes) -> dict[str, bytes]:
    raw = json.loads(blob)
    out = {str(k): base64.b64decode(v) for k, v in raw.items()}
    for name in out:
        parts = PurePosixPath(name).parts
        safe = len(parts) >= 2 and parts[0] == "keys" and ".." not in parts and "\\" not in name
        if name != "signing_key" and not safe:
            raise sealing.Tampered(f"keys.enc names an unsafe path {name!r}")
    return out


def _check_sqlite(path: Path, counts: dict[str, int]) -> None:
    conn = sqlite3.connect(path)
    try:
        (ok,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    if ok != "ok":
        raise sealing.Tampered(f"the database fails SQLite's integrity check: {ok}")
    eng = create_engine(f"sqlite:///{path}")
    try:
        with eng.connect() as c:
            _compare_counts(table_counts(c), counts)
    finally:
        eng.dispose()


def _compare_counts(found: dict[str, int], expected: dict[str, int]) -> None:
    diff = [f"{t}: {found.get(t)} != {n}" for t, n in sorted(expected.items()) if found.get(t) != n]
    if diff:
        raise BackupError("row counts differ from the manifest: " + "; ".join(diff[:5]))


def _put_in_place(
    settings: Settings, manifest: dict[str, Any], staging: Path, key_files: dict[str, bytes]
) -> RestoreReport:
    root = settings.data_dir.resolve()
    dispose_engines()
    if settings.is_sqlite:
        os.replace(staging / SQLITE_MEMBER, root / SQLITE_NAME)
    else:
        conninfo, env = pg_conninfo(settings)
        run_pg_tool(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={conninfo}",
                str(staging / PG_MEMBER),
            ],
            env,
        )
        with get_engine(settings).connect() as conn:
            _compare_counts(table_counts(conn), manifest["counts"])
    files = 0
    for name, meta in manifest["members"].items():
        if not name.startswith("data/"):
            continue
        dest = root / name.removeprefix("data/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, dest)
        os.chmod(dest, int(meta.get("mode", 0o600)) & 0o777)
        files += 1
    keys_dir = root / "keys"
    keys_dir.mkdir(exist_ok=True)
    os.chmod(keys_dir, 0o700)
    for name, data in key_files.items():
        dest = ledger_keys.key_path(settings) if name == "signing_key" else keys_dir / name[5:]
        dest = dest.resolve()
        if dest == keys_dir / SESSION_SECRET_FILE:
            dest.unlink(missing_ok=True)  # the one generated when the settings were loaded
        _write_private(dest, data)
    ledger_keys._load.cache_clear()
    migrate.forget()
    upgraded = False
    if not migrate.up_to_date(settings):
        migrate.upgrade(settings)
        upgraded = True
    with system_session(settings, "restore: verify the ledger") as s:
        rep = audit.verify_chain(s, settings=settings)
    return RestoreReport(
        database=manifest["database"]["kind"],
        counts=dict(manifest["counts"]),
        files=files,
        ledger_entries=rep.entries,
        ledger_ok=rep.ok,
        ledger_reason=rep.reason,
        upgraded=upgraded,
    )
