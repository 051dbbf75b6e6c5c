"""core_case: index for the case list (an organization's cases, newest first)

The list sorted all of an organization's cases for every page (docs/performance.md).

Revision ID: a7c4e1d90b62
Revises: f1b7d3a95c20
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "a7c4e1d90b62"
down_revision: str | Sequence[str] | None = "f1b7d3a95c20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_core_case_org_created",
        "core_case",
        ["organization_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_core_case_org_created", table_name="core_case")
