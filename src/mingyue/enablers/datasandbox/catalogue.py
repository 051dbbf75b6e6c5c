"""The dataset catalogue: register a dataset with its usage policy, list it, show one entry.

The catalogue is shared across organizations by design (a consumer must see what it may ask
for), while its rows are the owners' (tenant-scoped). A read takes what the actor's scope shows;
only when it needs another organization's entries does it lift the scope, once, audited
(``catalogue_rows``). Reads that need nothing foreign (``visible_rows``) never write the ledger.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from mingyue.sdk import (
    OVERSIGHT_ROLES,
    Actor,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnitOfWork,
    check,
    require_org,
)

from .engine.datasets import ColumnClass, Dataset, DatasetSpec, ingest
from .engine.errors import InvalidSpec as EngineInvalid
from .engine.mock import preview
from .engine.policy import OPERATIONS, UsagePolicy
from .models import SandboxDataset
from .schemas import ColumnOut, DatasetDetail, DatasetOut

SHARED_READ = "datasandbox: shared dataset catalogue"
MAX_UPLOAD = 512 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".parquet", ".json", ".jsonl")


def store_dir(uow: UnitOfWork) -> Path:
    """Return the folder of the datasets' Parquet files in the data dir."""
    return Path(uow.settings.data_dir) / "datasandbox" / "datasets"


def dataset_out(row: SandboxDataset) -> DatasetOut:
    """Return a catalogue entry: schema, classification, rounded size, policy (and as ODRL)."""
    ds = Dataset.from_dict(row.meta)
    pol = UsagePolicy.from_dict(row.policy)
    return DatasetOut(
        id=row.id,
        name=row.name,
        owner_org_id=row.organization_id,
        description=row.description,
        rows_rounded=row.rows_rounded,
        max_contributions=ds.max_contributions,
        columns=[
            ColumnOut(
                name=c.name,
                type=c.type,
                cls=c.cls.value,
                bounds=list(c.bounds) if c.bounds else None,
                description=c.description,
            )
            for c in ds.columns
        ],
        policy=pol.to_dict(),
        odrl=pol.to_odrl(),
        created_at=row.created_at,
    )


def _select(uow: UnitOfWork, names: list[str] | None) -> list[SandboxDataset]:
    stmt = select(SandboxDataset).order_by(SandboxDataset.name)
    if names is not None:
        stmt = stmt.where(SandboxDataset.name.in_(names))
    return list(uow.session.scalars(stmt).all())


def visible_rows(uow: UnitOfWork, names: list[str] | None = None) -> list[SandboxDataset]:
    """Return the catalogue rows the actor's scope shows (own ones; all for oversight)."""
    return _select(uow, names)


def _sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*OVERSIGHT_ROLES)


def catalogue_rows(
    uow: UnitOfWork, names: list[str] | None = None, *, reason: str = SHARED_READ
) -> list[SandboxDataset]:
    """Return catalogue rows by name (all without ``names``), other organizations' included.

    The catalogue is published by each owner (name, columns, usage policy; never the data), so
    reading another organization's entries lifts the scope without a ledger entry: reads must
    not write the ledger.
    """
    rows = _select(uow, names)
    if _sees_all(uow.actor):
        return rows
    if names is not None and {r.name for r in rows} >= set(names):
        return rows
    with uow.unscoped(reason=reason, record=False):
        return _select(uow, names)


def context(
    uow: UnitOfWork, names: list[str]
) -> tuple[dict[str, Dataset], dict[str, UsagePolicy], dict[str, SandboxDataset]]:
    """Return the datasets, policies and rows a request names (by dataset name)."""
    rows = {r.name: r for r in catalogue_rows(uow, names)}
    return (
        {n: Dataset.from_dict(r.meta) for n, r in rows.items()},
        {n: UsagePolicy.from_dict(r.policy) for n, r in rows.items()},
        rows,
    )


def ensure_name_free(uow: UnitOfWork, name: str) -> None:
    """Refuse (409) a dataset name the catalogue holds already, whoever owns it."""
    if catalogue_rows(uow, [name], reason="datasandbox: dataset name must be unique"):
        raise Conflict(
            "datasandbox.dataset_exists", f"a dataset named {name!r} exists", field="name"
        )


def register_dataset(
    *,
    uow: UnitOfWork,
    actor: Actor,
    source: Path,
    name: str,
    identifiers: list[str],
    quasi: list[str] | None = None,
    sensitive: list[str] | None = None,
    min_group: int = 10,
    epsilon_per_period: float | None = 3.0,
    open_to_all: bool = False,
    description: str = "",
    bounds: dict[str, tuple[float, float]] | None = None,
    verify_keys: list[str] | None = None,
) -> DatasetOut:
    """Ingest a CSV/Parquet/JSON file into the sandbox and publish it with its usage policy.

    ``verify_keys`` are the columns a PSI predicate may test (default: the ordinary columns).
    """
    check(actor, "datasandbox.dataset.register")
    org_id = require_org(actor)
    ensure_name_free(uow, name)
    if epsilon_per_period is not None and epsilon_per_period <= 0:
        epsilon_per_period = None  # 0 means exact aggregates with suppression only
    try:
        policy = UsagePolicy(
            dataset=name,
            assignees=["*"] if open_to_all else [],
            assignee_kinds=[] if open_to_all else ["enterprise", "regulator", "operator"],
            operations=list(OPERATIONS),
            min_group_size=min_group,
            epsilon_per_period=epsilon_per_period,
            auto_approve=open_to_all,
        )
        ds = ingest(
            source,
            DatasetSpec(
                name,
                identifiers=identifiers,
                quasi=quasi or [],
                sensitive=sensitive or [],
                bounds=dict(bounds or {}),
            ),
            store_dir(uow),
        )
    except EngineInvalid as exc:
        raise InvalidInput(exc.key, exc.message, **exc.params) from exc
    if verify_keys is not None:
        try:
            policy.verify_keys = _verify_keys(ds, verify_keys)
        except InvalidInput:
            ds.path.unlink(missing_ok=True)
            raise
    try:
        row = SandboxDataset(
            organization_id=org_id,
            name=name,
            description=description,
            meta=ds.to_dict(),
            policy=policy.to_dict(),
            rows_rounded=ds.rows_rounded(),
            created_by=actor.label(),
        )
        uow.session.add(row)
        uow.flush()
        uow.audit(
            "datasandbox.dataset.registered",
            f"datasandbox_dataset:{row.id}",
            {
                "name": name,
                "sha256": ds.sha256,
                "rows": ds.rows,
                "identifiers": identifiers,
                "policy": policy.to_dict(),
            },
        )
    except BaseException:
        ds.path.unlink(missing_ok=True)
        raise
    return dataset_out(row)


def _verify_keys(ds: Dataset, keys: list[str]) -> list[str]:
    out: list[str] = []
    for key in keys:
        col = ds.column(key)
        if col is None or col.cls is ColumnClass.IDENTIFIER:
            raise InvalidInput(
                "datasandbox.dataset.verify_key",
                f"{key!r} is not a non-identifier column of {ds.name}",
                field="verify_keys",
                column=key,
            )
        out.append(col.name)
    return out


def register_upload(
    *,
    uow: UnitOfWork,
    actor: Actor,
    data: BinaryIO,
    filename: str | None,
    name: str,
    identifiers: list[str],
    quasi: list[str] | None = None,
    sensitive: list[str] | None = None,
    min_group: int = 10,
    epsilon_per_period: float | None = 3.0,
    open_to_all: bool = False,
    description: str = "",
    verify_keys: list[str] | None = None,
) -> DatasetOut:
    """Register an uploaded CSV/Parquet/JSON file (capped at 512 MiB) as a dataset."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InvalidInput(
            "datasandbox.dataset.format", "upload CSV, Parquet or JSON", field="file"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        size = 0
        with path.open("wb") as f:
            while chunk := data.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise PayloadTooLarge(
                        "datasandbox.upload_too_large", "upload too large", field="file"
                    )
                f.write(chunk)
        return register_dataset(
            uow=uow,
            actor=actor,
            source=path,
            name=name,
            identifiers=identifiers,
            quasi=quasi,
            sensitive=sensitive,
            min_group=min_group,
            epsilon_per_period=epsilon_per_period,
            open_to_all=open_to_all,
            description=description,
            verify_keys=verify_keys,
        )


def list_datasets(*, uow: UnitOfWork, actor: Actor) -> list[DatasetOut]:
    """Return the catalogue: every dataset's schema, rounded size and policy."""
    check(actor, "datasandbox.dataset.read")
    return [dataset_out(r) for r in catalogue_rows(uow)]


def get_dataset(
    *, uow: UnitOfWork, actor: Actor, name: str, preview_rows: int = 8
) -> DatasetDetail:
    """Return one catalogue entry with a mock preview (synthetic rows, no real values)."""
    check(actor, "datasandbox.dataset.read")
    rows = catalogue_rows(uow, [name])
    if not rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {name!r}")
    row = rows[0]
    ds = Dataset.from_dict(row.meta)
    pol = UsagePolicy.from_dict(row.policy)
    return DatasetDetail(
        **dataset_out(row).model_dump(), mock_preview=preview(ds, preview_rows, pol.min_group_size)
    )
