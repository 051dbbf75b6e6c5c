"""citygov telemetry: devices, readings (time series), alarms

Revision ID: c17a00000003
Revises: c17a00000002
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = "c17a00000003"
down_revision: str | Sequence[str] | None = "c17a00000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('citygov_device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('entity_id', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('mqtt_username', sa.String(length=100), nullable=True),
    sa.Column('created_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_observed_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_values', sa.JSON(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.JSON(), nullable=False),
    sa.Column('last_rejection', sa.String(length=240), nullable=True),
    sa.Column('last_rejected_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['core_organization.id'], name=op.f('fk_citygov_device_organization_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citygov_device')),
    sa.UniqueConstraint('device_id', name=op.f('uq_citygov_device_device_id'))
    )
    with op.batch_alter_table('citygov_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citygov_device_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_citygov_device_last_seen_at'), ['last_seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_citygov_device_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citygov_device_token_hash'), ['token_hash'], unique=False)

    op.create_table('citygov_reading',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_pk', sa.Integer(), nullable=False),
    sa.Column('observed_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['device_pk'], ['citygov_device.id'], name=op.f('fk_citygov_reading_device_pk_citygov_device')),
    sa.ForeignKeyConstraint(['organization_id'], ['core_organization.id'], name=op.f('fk_citygov_reading_organization_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citygov_reading')),
    sa.UniqueConstraint('device_pk', 'observed_at', name=op.f('uq_citygov_reading_device_pk'))
    )
    with op.batch_alter_table('citygov_reading', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citygov_reading_organization_id'), ['organization_id'], unique=False)

    op.create_table('citygov_alarm',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_pk', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('open_key', sa.String(length=120), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('measure', sa.String(length=40), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('title', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('first_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('created_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=128), nullable=True),
    sa.Column('cleared_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cleared_by', sa.String(length=128), nullable=True),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['citygov_case.id'], name=op.f('fk_citygov_alarm_case_id_citygov_case'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_pk'], ['citygov_device.id'], name=op.f('fk_citygov_alarm_device_pk_citygov_device')),
    sa.ForeignKeyConstraint(['organization_id'], ['core_organization.id'], name=op.f('fk_citygov_alarm_organization_id_core_organization')),
    sa.ForeignKeyConstraint(['previous_id'], ['citygov_alarm.id'], name=op.f('fk_citygov_alarm_previous_id_citygov_alarm'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citygov_alarm')),
    sa.UniqueConstraint('open_key', name=op.f('uq_citygov_alarm_open_key'))
    )
    with op.batch_alter_table('citygov_alarm', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citygov_alarm_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citygov_alarm_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citygov_alarm_device_pk'), ['device_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_citygov_alarm_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citygov_alarm_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('citygov_alarm', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citygov_alarm_status'))
        batch_op.drop_index(batch_op.f('ix_citygov_alarm_organization_id'))
        batch_op.drop_index(batch_op.f('ix_citygov_alarm_device_pk'))
        batch_op.drop_index(batch_op.f('ix_citygov_alarm_device_id'))
        batch_op.drop_index(batch_op.f('ix_citygov_alarm_case_id'))

    op.drop_table('citygov_alarm')
    with op.batch_alter_table('citygov_reading', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citygov_reading_organization_id'))

    op.drop_table('citygov_reading')
    with op.batch_alter_table('citygov_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citygov_device_token_hash'))
        batch_op.drop_index(batch_op.f('ix_citygov_device_organization_id'))
        batch_op.drop_index(batch_op.f('ix_citygov_device_last_seen_at'))
        batch_op.drop_index(batch_op.f('ix_citygov_device_kind'))

    op.drop_table('citygov_device')
