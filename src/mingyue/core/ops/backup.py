"""``mingyue backup``: one tar archive with the database, the data dir and the encrypted keys.

Members: ``data/…`` (the data dir: uploads, enabler data, ledger heads), ``db/mingyue.sqlite3``
(SQLite online backup API) or ``db/mingyue.pgdump`` (``pg_dump --format=custom`` on the
snapshot the table counts were read in), ``keys.enc`` (the signing key and the files of
``data_dir/keys``, AES-256-GCM under a passphrase) and, last, ``manifest.json`` (versions,
Alembic revisions, row counts, each member's SHA-256 and size) with ``manifest.mac``.

Order matters for a live deployment: the ledger heads are read before the database is dumped,
so the restored database holds every entry a restored head names (``audit verify`` passes);
uploads are read after, so every stored-file row finds its file.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import platform
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from mingyue import __version__
from mingyue.core import clock, migrate
from mingyue.core.config import Settings
from mingyue.core.db import get_engine
from mingyue.core.errors import InvalidInput, MingyueError
from mingyue.core.ledger import keys as ledger_keys
from mingyue.core.ops import sealing

FORMAT = "mingyue-backup"
FORMAT_VERSION = 1
SQLITE_NAME = "mingyue.sqlite3"
SQLITE_MEMBER = "db/mingyue.sqlite3"
PG_MEMBER = "db/mingyue.pgdump"
KEYS_MEMBER = "keys.enc"
MANIFEST = "manifest.json"
MANIFEST_MAC = "manifest.mac"
# Files of the data dir that are not copied as files: the database (dumped), its migration lock
# (migrate.upgrade_lock) and the keys (encrypted).
_DB_FILES = frozenset(
    SQLITE_NAME + s for s in ("", "-wal", "-shm", "-journal", migrate.LOCK_SUFFIX)
)


class BackupError(MingyueError):
    """A backup could not be made or restored (the message says why; CLI exit 1)."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__("core.backup.failed", message)


@dataclass
class Manifest:
    """What a backup holds (``manifest.json``)."""

    data: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Return the manifest as canonical JSON bytes."""
        return json.dumps(self.data, sort_keys=True, indent=1, ensure_ascii=False).encode()


# ---- database -------------------------------------------------------------------------------


def table_counts(conn: Connection) -> dict[str, int]:
    """Count the rows of every table (Alembic's own excepted)."""
    names = sorted(n for n in inspect(conn).get_table_names() if n != "alembic_version")
    return {
        n: int(conn.execute(select(func.count()).select_from(table(n))).scalar_one()) for n in names
    }


def revisions(conn: Connection) -> list[str]:
    """Return the Alembic revisions the database is at (empty when never migrated)."""
    if "alembic_version" not in inspect(conn).get_table_names():
        return []
    rows = conn.execute(text("SELECT version_num FROM alembic_version"))
    return sorted(str(row[0]) for row in rows)


def pg_conninfo(settings: Settings) -> tuple[str, dict[str, str]]:
    """Return a libpq connection string without the password, and the environment carrying it."""
    url = make_url(settings.sqlalchemy_url)
    parts = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    parts.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    conninfo = " ".join(
        f"{k}='{str(v).replace(chr(92), chr(92) * 2).replace(chr(39), chr(92) + chr(39))}'"
        for k, v in parts.items()
        if v is not None
    )
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)  # never on the command line (ps would show it)
    return conninfo, env


def run_pg_tool(argv: list[str], env: dict[str, str]) -> None:
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{argv[0]} is not installed (PostgreSQL client tools)") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise BackupError(f"{argv[0]} failed: {lines[-1] if lines else proc.returncode}")


def _dump_sqlite(settings: Settings, dest: Path) -> dict[str, Any]:
    src_path = settings.data_dir / SQLITE_NAME
    if not src_path.is_file():
        raise BackupError(f"no database in {settings.data_dir}")
    # The online backup API copies a consistent image while other processes keep writing.
    src = sqlite3.connect(src_path)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        src.close()
        dst.close()
    eng = create_engine(f"sqlite:///{dest}")
    try:
        with eng.connect() as conn:
            return {"counts": table_counts(conn), "revisions": revisions(conn)}
    finally:
        eng.dispose()


def _dump_pg(settings: Settings, dest: Path) -> dict[str, Any]:
    conninfo, env = pg_conninfo(settings)
    with get_engine(settings).connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            counts = table_counts(conn)
            revs = revisions(conn)
            server = str(conn.execute(text("SHOW server_version")).scalar_one())
            # pg_dump reads the same snapshot: the counts describe exactly what it writes.
            run_pg_tool(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={dest}",
                    f"--dbname={conninfo}",
                ],
                env,
            )
    return {"counts": counts, "revisions": revs, "server_version": str(server)}


# ---- files ----------------------------------------------------------------------------------


class _HashingReader:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        return data


def _data_files(settings: Settings, skip: set[Path]) -> Iterator[tuple[Path, str]]:
    root = settings.data_dir.resolve()
    keys_dir = root / "keys"
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if here / d != keys_dir)
        for name in sorted(filenames):
            path = here / name
            if (here == root and name in _DB_FILES) or path in skip:
                continue
            if path.is_symlink() or not path.is_file():
                continue  # sockets, links: not data the platform wrote
            yield path, "data/" + path.relative_to(root).as_posix()


def _key_files(settings: Settings) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    signing = ledger_keys.key_path(settings).resolve()
    if signing.is_file():
        out["signing_key"] = signing.read_bytes()
    keys_dir = settings.data_dir.resolve() / "keys"
    if keys_dir.is_dir():
        for path in sorted(keys_dir.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.resolve() != signing:
                out["keys/" + path.relative_to(keys_dir).as_posix()] = path.read_bytes()
    return out


class _Writer:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members: dict[str, dict[str, Any]] = {}

    def add_bytes(self, name: str, data: bytes, mode: int = 0o600) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.mtime = int(clock.now().timestamp())
        self.tar.addfile(info, io.BytesIO(data))
        self.members[name] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "mode": mode,
        }

    def add_file(self, path: Path, name: str) -> None:
        st = path.stat()
        info = tarfile.TarInfo(name)
        info.size = st.st_size
        info.mode = st.st_mode & 0o777
        info.mtime = int(st.st_mtime)
        with path.open("rb") as fh:
            reader = _HashingReader(fh)
            self.tar.addfile(info, reader)
        self.members[name] = {
            "sha256": reader.sha.hexdigest(),
            "size": st.st_size,
            "mode": info.mode,
        }


# ---- the archive ----------------------------------------------------------------------------


def _open_for_writing(path: Path, *, gzip: bool) -> tarfile.TarFile:
    return tarfile.open(path, "w:gz") if gzip else tarfile.open(path, "w")


def create_backup(settings: Settings, out: Path, passphrase: bytes) -> dict[str, Any]:
    """Write a backup of this deployment to ``out``; return its manifest."""
    if len(passphrase) < sealing.MIN_PASSPHRASE:
        raise InvalidInput(
            "core.backup.weak_passphrase",
            f"the passphrase must have at least {sealing.MIN_PASSPHRASE} characters",
            field="--passphrase-file",
        )
    out = out.resolve()
    if out.exists():
        raise InvalidInput("core.backup.exists", f"{out} exists; refusing to overwrite it")
    if settings.data_dir.resolve() in out.parents:
        raise InvalidInput("core.backup.inside", "write the backup outside the data dir")
    if not out.parent.is_dir():
        raise InvalidInput("core.backup.no_folder", f"{out.parent} is not a directory")
    kdf = sealing.new_kdf()
    derived = sealing.derive(passphrase, kdf)
    partial = out.with_name(f".{out.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    try:
        with (
            tempfile.TemporaryDirectory(prefix=".mingyue-backup-", dir=out.parent) as tmp,
            _open_for_writing(partial, gzip=out.name.endswith((".tar.gz", ".tgz"))) as tar,
        ):
            writer = _Writer(tar)
            skip = {out, partial}
            ledger_dir = settings.data_dir.resolve() / "ledger"
            # 1. the ledger heads, before the database (see the module docstring)
            ledger_files = [
                (p, n) for p, n in _data_files(settings, skip) if ledger_dir in p.parents
            ]
            for path, name in ledger_files:
                writer.add_bytes(name, path.read_bytes(), path.stat().st_mode & 0o777)
            # 2. the database
            if settings.is_sqlite:
                dump, member = Path(tmp) / SQLITE_NAME, SQLITE_MEMBER
                db = _dump_sqlite(settings, dump)
                kind = "sqlite"
            else:
                dump, member = Path(tmp) / "mingyue.pgdump", PG_MEMBER
                db = _dump_pg(settings, dump)
                kind = "postgresql"
            writer.add_file(dump, member)
            # 3. the rest of the data dir, then the keys
            done = {p for p, _n in ledger_files}
            for path, name in _data_files(settings, skip):
                if path not in done:
                    writer.add_file(path, name)
            key_files = _key_files(settings)
            blob = json.dumps(
                {k: base64.b64encode(v).decode() for k, v in key_files.items()}
            ).encode()
            writer.add_bytes(KEYS_MEMBER, sealing.encrypt(derived, blob))
            manifest = Manifest(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": clock.now().isoformat(),
                    "mingyue_version": __version__,
                    "python": platform.python_version(),
                    "database": {
                        "kind": kind,
                        "member": member,
                        **(
                            {"server_version": db["server_version"]}
                            if "server_version" in db
                            else {}
                        ),
                    },
                    "alembic": {
                        "current": db["revisions"],
                        "heads": sorted(migrate.heads(settings)),
                    },
                    "counts": db["counts"],
                    "keys": {"member": KEYS_MEMBER, "files": sorted(key_files)},
                    "kdf": kdf,
                    "passphrase_check": derived.check,
                    "members": writer.members,
                }
            )
            body = manifest.to_bytes()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(body), 0o600
            tar.addfile(info, io.BytesIO(body))
            signature = sealing.mac(derived, body).encode()
            info = tarfile.TarInfo(MANIFEST_MAC)
            info.size, info.mode = len(signature), 0o600
            tar.addfile(info, io.BytesIO(signature))
        with partial.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest.data
