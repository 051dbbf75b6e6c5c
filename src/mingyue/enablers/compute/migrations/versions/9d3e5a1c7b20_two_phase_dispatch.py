"""two-phase dispatch: compute_job.dispatching_since

Revision ID: 9d3e5a1c7b20
Revises: 4c194c134410
Create Date: 2026-11-23 15:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = '9d3e5a1c7b20'
down_revision: str | Sequence[str] | None = '4c194c134410'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('compute_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatching_since',
                                      mingyue.sdk.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_job', schema=None) as batch_op:
        batch_op.drop_column('dispatching_since')
