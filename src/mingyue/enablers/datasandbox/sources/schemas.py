"""Pydantic in/out models of dataset sources (PostgreSQL); nothing here carries a password out."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, SecretStr


class PgDatasetIn(BaseModel):
    """Register a PostgreSQL table or view: connection, table, classification, policy."""

    name: str = Field(max_length=63)
    table: str = Field(max_length=130, description="schema.table (schema public if omitted)")
    # SecretStr: a DSN may carry the password; neither shows in a repr, a log or a traceback.
    dsn: SecretStr | None = Field(
        default=None,
        max_length=2000,
        description="postgresql://user:password@host:port/db or key=value",
    )
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    dbname: str | None = Field(default=None, max_length=63)
    user: str | None = Field(default=None, max_length=63)
    password: SecretStr | None = Field(default=None, max_length=1000)
    columns: list[str] | None = Field(default=None, max_length=500)
    identifiers: list[str] = Field(default_factory=list)
    quasi: list[str] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    min_group: int = Field(default=10, ge=1)
    epsilon_per_period: float = Field(default=3.0, ge=0, description="0: no DP")
    open_to_all: bool = False
    description: str = Field(default="", max_length=2000)


class SnapshotOut(BaseModel):
    version: int
    taken_at: datetime
    rows: int
    bytes_read: int
    sha256: str
    created_by: str


class SourceOut(BaseModel):
    """Where a dataset is snapshotted from: redacted location, table, versions."""

    dataset: str
    kind: str
    location: str  # postgresql://user@host:port/db — never the password
    table: str
    columns: list[str] | None
    version: int
    snapshot_at: datetime
    rows: int
    snapshots: list[SnapshotOut]
