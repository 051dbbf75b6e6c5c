"""digitalasset monitor jobs: upload runs as jobs, chain-event cursor and window

Revision ID: da0100000003
Revises: da0100000002
Create Date: 2026-12-07 15:20:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = 'da0100000003'
down_revision: str | Sequence[str] | None = 'da0100000002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('digitalasset_monitor_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='done', nullable=False))
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('file_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('finished_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_digitalasset_monitor_run_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_digitalasset_monitor_run_job_id'), ['job_id'], unique=False)

    op.create_table('digitalasset_chain_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('last_block', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('updated_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['core_organization.id'], name=op.f('fk_digitalasset_chain_cursor_organization_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digitalasset_chain_cursor')),
    sa.UniqueConstraint('chain_id', 'address', name=op.f('uq_digitalasset_chain_cursor_chain_id'))
    )
    with op.batch_alter_table('digitalasset_chain_cursor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digitalasset_chain_cursor_organization_id'), ['organization_id'], unique=False)

    op.create_table('digitalasset_chain_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('collection', sa.String(length=42), nullable=False),
    sa.Column('token_id', sa.String(length=80), nullable=False),
    sa.Column('seller', sa.String(length=42), nullable=False),
    sa.Column('buyer', sa.String(length=42), nullable=False),
    sa.Column('price_cny', sa.Float(), nullable=True),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['core_organization.id'], name=op.f('fk_digitalasset_chain_event_organization_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digitalasset_chain_event')),
    sa.UniqueConstraint('chain_id', 'tx_hash', 'log_index', name=op.f('uq_digitalasset_chain_event_chain_id'))
    )
    with op.batch_alter_table('digitalasset_chain_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digitalasset_chain_event_collection'), ['collection'], unique=False)
        batch_op.create_index(batch_op.f('ix_digitalasset_chain_event_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_digitalasset_chain_event_ts'), ['ts'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('digitalasset_chain_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digitalasset_chain_event_ts'))
        batch_op.drop_index(batch_op.f('ix_digitalasset_chain_event_organization_id'))
        batch_op.drop_index(batch_op.f('ix_digitalasset_chain_event_collection'))
    op.drop_table('digitalasset_chain_event')
    with op.batch_alter_table('digitalasset_chain_cursor', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digitalasset_chain_cursor_organization_id'))
    op.drop_table('digitalasset_chain_cursor')
    with op.batch_alter_table('digitalasset_monitor_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digitalasset_monitor_run_job_id'))
        batch_op.drop_index(batch_op.f('ix_digitalasset_monitor_run_status'))
        batch_op.drop_column('finished_at')
        batch_op.drop_column('error')
        batch_op.drop_column('file_id')
        batch_op.drop_column('job_id')
        batch_op.drop_column('status')
