"""issued statements refuse UPDATE/DELETE

Revision ID: a1c3e5f70001
Revises: 882c211758b0
Create Date: 2026-11-23 12:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70001"
down_revision: str | Sequence[str] | None = "882c211758b0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from mingyue.core.metering.models import statement_immutable_ddl  # lazy: only the upgrade step needs it

    for stmt in statement_immutable_ddl(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in ("core_statement", "core_statement_line"):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
