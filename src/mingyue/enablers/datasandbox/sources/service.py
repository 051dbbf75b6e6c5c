"""Use cases of dataset sources outside the platform: register a PostgreSQL table, refresh it.

A source is snapshotted into the data dir as Parquet (adapters/postgres.py), then ingested like an
upload, so queries only ever read the snapshot. The connection (password included) is sealed with
``mingyue.sdk.seal``; only its redacted form (``postgresql://user@host:port/db``) is shown.
Refresh makes a new version: new Parquet file, catalogue entry updated, one audit entry; the
file before the previous one is deleted (the previous one may still be read by a running job).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from mingyue.enablers.datasandbox.adapters import postgres as pg
from mingyue.enablers.datasandbox.catalogue import ensure_name_free, register_dataset, store_dir
from mingyue.enablers.datasandbox.engine.datasets import Dataset, DatasetSpec, ingest
from mingyue.enablers.datasandbox.engine.errors import InvalidSpec
from mingyue.enablers.datasandbox.models import SandboxDataset
from mingyue.enablers.datasandbox.schemas import DatasetOut
from mingyue.enablers.datasandbox.settings import options
from mingyue.sdk import (
    Actor,
    Conflict,
    InvalidInput,
    NotFound,
    SecretUnreadable,
    UnitOfWork,
    check,
    now,
    seal,
    unseal,
)

from .models import SandboxSnapshot, SandboxSource
from .schemas import SnapshotOut, SourceOut

PURPOSE = "datasandbox.source"


def _limits(uow: UnitOfWork) -> pg.Limits:
    o = options(uow.settings)
    return pg.Limits(
        max_rows=o.pg_max_rows,
        max_bytes=o.pg_max_bytes,
        connect_timeout_s=o.pg_connect_timeout_s,
        statement_timeout_s=o.pg_statement_timeout_s,
        duckdb_memory_mb=max(o.memory_mb // 2, 256),
    )


def _invalid(exc: InvalidSpec) -> InvalidInput:
    return InvalidInput(exc.key, exc.message, **exc.params)


def _platform_db(uow: UnitOfWork) -> pg.PlatformDb | None:
    if uow.settings.is_sqlite:
        return None
    url = make_url(uow.settings.sqlalchemy_url)
    return pg.PlatformDb(url.host or "localhost", int(url.port or 5432), url.database or "")


def _refuse_own_metadata_db(uow: UnitOfWork, params: dict[str, str]) -> None:
    """Refuse the platform's own database, compared by resolved address, port and name."""
    platform = _platform_db(uow)
    if platform is None or params.get("dbname") != platform.dbname:
        return
    port = int(params.get("port") or 5432)
    if port != platform.port:
        return
    own = set(pg.resolve(platform.host, platform.port))
    if own & set(pg.resolve(params.get("hostaddr") or params["host"], port)):
        raise InvalidInput(
            "datasandbox.pg.platform_db",
            "the platform's own database cannot be registered as a source",
            field="dsn",
        )


def _checked(uow: UnitOfWork, params: dict[str, str]) -> dict[str, str]:
    """Return the params pinned to an allow-listed address (issue 12: SSRF through sources)."""
    _refuse_own_metadata_db(uow, params)
    try:
        return pg.guard(params, options(uow.settings).pg_allowed_hosts, _platform_db(uow))
    except InvalidSpec as exc:
        raise _invalid(exc) from exc


def _version_dir(store: Path, name: str, version: int) -> Path:
    # Version 1 sits where an uploaded dataset would; later ones each in their own folder.
    return store if version == 1 else store / "versions" / f"{name}.v{version}"


def _snapshot_file(
    uow: UnitOfWork, params: dict[str, str], table: str, columns: list[str] | None, tmp: Path
) -> pg.Snapshot:
    try:
        return pg.snapshot(
            params, table, tmp / "snapshot.parquet", columns=columns, limits=_limits(uow)
        )
    except InvalidSpec as exc:
        raise _invalid(exc) from exc


def _tmpdir(uow: UnitOfWork) -> Path:
    base = Path(uow.settings.data_dir) / "datasandbox" / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base, prefix="pg-"))


def register_pg_dataset(
    *,
    uow: UnitOfWork,
    actor: Actor,
    name: str,
    table: str,
    identifiers: list[str],
    dsn: str | None = None,
    host: str | None = None,
    port: int | None = None,
    dbname: str | None = None,
    user: str | None = None,
    password: str | None = None,
    columns: list[str] | None = None,
    quasi: list[str] | None = None,
    sensitive: list[str] | None = None,
    min_group: int = 10,
    epsilon_per_period: float | None = 3.0,
    open_to_all: bool = False,
    description: str = "",
    bounds: dict[str, tuple[float, float]] | None = None,
) -> DatasetOut:
    """Check a read-only PostgreSQL role, snapshot the table and publish it as a dataset."""
    check(actor, "datasandbox.dataset.register")
    try:
        params = pg.conninfo(
            dsn=dsn, host=host, port=port, dbname=dbname, user=user, password=password
        )
        schema, rel = pg.split_table(table)
    except InvalidSpec as exc:
        raise _invalid(exc) from exc
    pinned = _checked(uow, params)
    ensure_name_free(uow, name)  # before connecting anywhere
    tmp = _tmpdir(uow)
    try:
        snap = _snapshot_file(uow, pinned, f"{schema}.{rel}", columns, tmp)
        out = register_dataset(
            uow=uow,
            actor=actor,
            source=tmp / "snapshot.parquet",
            name=name,
            identifiers=identifiers,
            quasi=quasi,
            sensitive=sensitive,
            min_group=min_group,
            epsilon_per_period=epsilon_per_period,
            open_to_all=open_to_all,
            description=description,
            bounds=bounds,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    row = uow.session.get(SandboxDataset, out.id)
    if row is None:  # pragma: no cover - flushed in this unit of work just above
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {name!r}")
    ds = Dataset.from_dict(row.meta)
    try:
        at = now()
        spec = {
            "identifiers": identifiers,
            "quasi": quasi or [],
            "sensitive": sensitive or [],
            "bounds": {k: list(v) for k, v in (bounds or {}).items()},
        }
        src = SandboxSource(
            organization_id=row.organization_id,
            dataset_id=row.id,
            kind="postgresql",
            location=pg.redacted(params),
            table_name=f"{schema}.{rel}",
            columns=columns or None,
            spec=spec,
            secret_enc=seal(uow.settings, PURPOSE, params),
            version=1,
            snapshot_at=at,
            rows=snap.rows,
        )
        uow.session.add(src)
        uow.session.add(
            SandboxSnapshot(
                organization_id=row.organization_id,
                dataset_id=row.id,
                version=1,
                taken_at=at,
                rows=snap.rows,
                bytes_read=snap.bytes,
                sha256=ds.sha256,
                created_by=actor.label(),
            )
        )
        uow.flush()
        uow.audit(
            "datasandbox.source.snapshotted",
            f"datasandbox_dataset:{row.id}",
            {
                "name": name,
                "location": src.location,
                "table": src.table_name,
                "version": 1,
                "rows": snap.rows,
                "sha256": ds.sha256,
            },
        )
    except BaseException:
        ds.path.unlink(missing_ok=True)
        raise
    return out


def _own_source(
    uow: UnitOfWork, actor: Actor, name: str, *, lock: bool = False
) -> tuple[SandboxSource, SandboxDataset]:
    stmt = (
        select(SandboxSource, SandboxDataset)
        .join(SandboxDataset, SandboxDataset.id == SandboxSource.dataset_id)
        .where(SandboxDataset.name == name)
    )
    if lock:  # two refreshes of one dataset take turns (each makes the next version)
        stmt = stmt.with_for_update(of=SandboxSource)
    found = uow.session.execute(stmt).first()
    # Another organization's source reads as absent: the catalogue is shared, sources are not.
    if found is None or found[0].organization_id != actor.organization_id:
        raise NotFound(
            "datasandbox.source_not_found", f"no source of your organization for dataset {name!r}"
        )
    return found[0], found[1]


def _source_out(uow: UnitOfWork, src: SandboxSource, name: str) -> SourceOut:
    snaps = uow.session.scalars(
        select(SandboxSnapshot)
        .where(SandboxSnapshot.dataset_id == src.dataset_id)
        .order_by(SandboxSnapshot.version)
    ).all()
    return SourceOut(
        dataset=name,
        kind=src.kind,
        location=src.location,
        table=src.table_name,
        columns=list(src.columns) if src.columns else None,
        version=src.version,
        snapshot_at=src.snapshot_at,
        rows=src.rows,
        snapshots=[
            SnapshotOut(
                version=s.version,
                taken_at=s.taken_at,
                rows=s.rows,
                bytes_read=s.bytes_read,
                sha256=s.sha256,
                created_by=s.created_by,
            )
            for s in snaps
        ],
    )


def get_source(*, uow: UnitOfWork, actor: Actor, name: str) -> SourceOut:
    """Return where the owner's dataset is snapshotted from (redacted) and its versions."""
    check(actor, "datasandbox.dataset.register")
    src, _ = _own_source(uow, actor, name)
    return _source_out(uow, src, name)


def refresh_dataset(*, uow: UnitOfWork, actor: Actor, name: str) -> SourceOut:
    """Snapshot the source again: a new version replaces the dataset's Parquet file."""
    check(actor, "datasandbox.dataset.register")
    src, row = _own_source(uow, actor, name, lock=True)
    try:
        params = unseal(uow.settings, PURPOSE, src.secret_enc)
    except SecretUnreadable as exc:
        raise Conflict(
            "datasandbox.source_unreadable",
            "the source's connection cannot be decrypted with this secret key",
        ) from exc
    spec = dict(src.spec or {})
    version = src.version + 1
    store = store_dir(uow)
    tmp = _tmpdir(uow)
    try:
        # Checked again: the operator may have narrowed the list, or the name may now resolve
        # elsewhere.
        snap = _snapshot_file(uow, _checked(uow, params), src.table_name, src.columns, tmp)
        try:
            ds = ingest(
                tmp / "snapshot.parquet",
                DatasetSpec(
                    name,
                    identifiers=list(spec.get("identifiers") or []),
                    quasi=list(spec.get("quasi") or []),
                    sensitive=list(spec.get("sensitive") or []),
                    bounds={
                        k: (float(v[0]), float(v[1])) for k, v in (spec.get("bounds") or {}).items()
                    },
                ),
                _version_dir(store, name, version),
            )
        except InvalidSpec as exc:
            raise _invalid(exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        at = now()
        old = Dataset.from_dict(row.meta)
        row.meta = ds.to_dict()
        row.rows_rounded = ds.rows_rounded()
        src.version, src.snapshot_at, src.rows = version, at, snap.rows
        uow.session.add(
            SandboxSnapshot(
                organization_id=row.organization_id,
                dataset_id=row.id,
                version=version,
                taken_at=at,
                rows=snap.rows,
                bytes_read=snap.bytes,
                sha256=ds.sha256,
                created_by=actor.label(),
            )
        )
        uow.flush()
        uow.audit(
            "datasandbox.dataset.refreshed",
            f"datasandbox_dataset:{row.id}",
            {
                "name": name,
                "location": src.location,
                "table": src.table_name,
                "version": version,
                "rows": snap.rows,
                "sha256": ds.sha256,
                "previous_sha256": old.sha256,
            },
        )
    except BaseException:
        ds.path.unlink(missing_ok=True)
        raise
    if version >= 3:
        stale = _version_dir(store, name, version - 2) / f"{name}.parquet"
        if stale != ds.path and stale != old.path:
            stale.unlink(missing_ok=True)
    return _source_out(uow, src, name)


def list_sources(*, uow: UnitOfWork, actor: Actor) -> list[SourceOut]:
    """Return the actor's organization's dataset sources (redacted), by dataset name."""
    check(actor, "datasandbox.dataset.register")
    found = uow.session.execute(
        select(SandboxSource, SandboxDataset.name)
        .join(SandboxDataset, SandboxDataset.id == SandboxSource.dataset_id)
        .where(SandboxSource.organization_id == actor.organization_id)
        .order_by(SandboxDataset.name)
    ).all()
    return [_source_out(uow, src, name) for src, name in found]
