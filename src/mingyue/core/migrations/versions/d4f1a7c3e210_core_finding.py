"""core_finding: findings every enabler raises (issue 15 §1)

Revision ID: d4f1a7c3e210
Revises: c7d2e9a40b15
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.core.db

revision: str = "d4f1a7c3e210"
down_revision: str | Sequence[str] | None = "c7d2e9a40b15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabler", sa.String(length=60), nullable=False),
        sa.Column("rule", sa.String(length=120), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("citation", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_seen", mingyue.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", mingyue.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("verification", sa.JSON(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("rectify_working_days", sa.Integer(), nullable=False),
        sa.Column("active_key", sa.String(length=512), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_core_finding_organization_id_core_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["core_finding.id"],
            name=op.f("fk_core_finding_previous_id_core_finding"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_finding")),
        sa.UniqueConstraint("active_key", name=op.f("uq_core_finding_active_key")),
    )
    with op.batch_alter_table("core_finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_finding_enabler"), ["enabler"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_finding_last_seen"), ["last_seen"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_core_finding_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_core_finding_previous_id"), ["previous_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_core_finding_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_finding_severity"), ["severity"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_finding_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_core_finding_org_enabler_subject",
            ["organization_id", "enabler", "subject"],
            unique=False,
        )
        batch_op.create_index(
            "ix_core_finding_org_rule_first_seen",
            ["organization_id", "rule", "first_seen"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("core_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_core_finding_org_rule_first_seen")
        batch_op.drop_index("ix_core_finding_org_enabler_subject")
        batch_op.drop_index(batch_op.f("ix_core_finding_status"))
        batch_op.drop_index(batch_op.f("ix_core_finding_severity"))
        batch_op.drop_index(batch_op.f("ix_core_finding_rule"))
        batch_op.drop_index(batch_op.f("ix_core_finding_previous_id"))
        batch_op.drop_index(batch_op.f("ix_core_finding_organization_id"))
        batch_op.drop_index(batch_op.f("ix_core_finding_last_seen"))
        batch_op.drop_index(batch_op.f("ix_core_finding_enabler"))
    op.drop_table("core_finding")
