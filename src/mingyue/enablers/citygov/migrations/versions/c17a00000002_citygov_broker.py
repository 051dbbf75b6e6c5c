"""citygov broker: NGSI-LD entities and subscriptions

Revision ID: c17a00000002
Revises: c17a00000001
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = "c17a00000002"
down_revision: str | Sequence[str] | None = "c17a00000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citygov_ngsi_entity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=512), nullable=False),
        sa.Column("type_iri", sa.String(length=512), nullable=False),
        sa.Column("multi_typed", sa.Boolean(), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("min_lon", sa.Float(), nullable=True),
        sa.Column("min_lat", sa.Float(), nullable=True),
        sa.Column("max_lon", sa.Float(), nullable=True),
        sa.Column("max_lat", sa.Float(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_citygov_ngsi_entity_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citygov_ngsi_entity")),
        sa.UniqueConstraint(
            "organization_id", "entity_id", name=op.f("uq_citygov_ngsi_entity_organization_id")
        ),
    )
    with op.batch_alter_table("citygov_ngsi_entity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_citygov_ngsi_entity_org_type", ["organization_id", "type_iri"], unique=False
        )
        batch_op.create_index(
            "ix_citygov_ngsi_entity_org_lat", ["organization_id", "lat", "lon"], unique=False
        )
        batch_op.create_index(
            "ix_citygov_ngsi_entity_org_bbox",
            ["organization_id", "min_lat", "max_lat"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_citygov_ngsi_entity_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "citygov_ngsi_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sub_id", sa.String(length=512), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
        sa.Column("times_sent", sa.Integer(), nullable=False),
        sa.Column("times_failed", sa.Integer(), nullable=False),
        sa.Column("last_notification", mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success", mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failure", mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_citygov_ngsi_subscription_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citygov_ngsi_subscription")),
        sa.UniqueConstraint(
            "organization_id", "sub_id", name=op.f("uq_citygov_ngsi_subscription_organization_id")
        ),
    )
    with op.batch_alter_table("citygov_ngsi_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_citygov_ngsi_subscription_organization_id"),
            ["organization_id"],
            unique=False,
        )
        batch_op.create_index("ix_citygov_ngsi_subscription_interval", ["interval_s"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("citygov_ngsi_subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_citygov_ngsi_subscription_interval")
        batch_op.drop_index(batch_op.f("ix_citygov_ngsi_subscription_organization_id"))
    op.drop_table("citygov_ngsi_subscription")
    with op.batch_alter_table("citygov_ngsi_entity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citygov_ngsi_entity_organization_id"))
        batch_op.drop_index("ix_citygov_ngsi_entity_org_bbox")
        batch_op.drop_index("ix_citygov_ngsi_entity_org_lat")
        batch_op.drop_index("ix_citygov_ngsi_entity_org_type")
    op.drop_table("citygov_ngsi_entity")
