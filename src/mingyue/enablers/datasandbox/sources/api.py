"""REST routes of dataset sources (PostgreSQL), included in the datasandbox router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from mingyue.enablers.datasandbox.schemas import DatasetOut
from mingyue.sdk import Actor
from mingyue.web.deps import UoW, require

from . import service as sources
from .schemas import PgDatasetIn, SourceOut

router = APIRouter(tags=["datasandbox"])
_Owner = Annotated[Actor, Depends(require("datasandbox.dataset.register"))]


@router.post("/sources/postgresql", operation_id="datasandbox-register_pg_dataset", status_code=201)
def register_pg_dataset(body: PgDatasetIn, uow: UoW, actor: _Owner) -> DatasetOut:
    """Register a PostgreSQL table (read-only role) as a dataset; it is snapshotted now."""
    data = body.model_dump(exclude={"dsn", "password"})
    return sources.register_pg_dataset(
        uow=uow,
        actor=actor,
        dsn=body.dsn.get_secret_value() if body.dsn else None,
        password=body.password.get_secret_value() if body.password else None,
        **{**data, "epsilon_per_period": body.epsilon_per_period or None},
    )


@router.get("/datasets/{name}/source", operation_id="datasandbox-get_source")
def get_source(name: str, uow: UoW, actor: _Owner) -> SourceOut:
    """Where the owner's dataset comes from (redacted) and its snapshot versions."""
    return sources.get_source(uow=uow, actor=actor, name=name)


@router.post("/datasets/{name}/refresh", operation_id="datasandbox-refresh_dataset")
def refresh_dataset(name: str, uow: UoW, actor: _Owner) -> SourceOut:
    """Snapshot the dataset's source again (a new version)."""
    return sources.refresh_dataset(uow=uow, actor=actor, name=name)
