"""modeleval tables

Revision ID: m0e100000001
Revises: 
Create Date: 2026-12-07 12:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = 'm0e100000001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ('modeleval',)
depends_on: str | Sequence[str] | None = 'a7c4e1d90b62'


def upgrade() -> None:
    op.create_table('modeleval_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('run_key', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('endpoint', sa.String(length=500), nullable=False),
    sa.Column('accuracy', sa.Float(), nullable=True),
    sa.Column('refusal_rate', sa.Float(), nullable=True),
    sa.Column('scorecard', sa.JSON(), nullable=False),
    sa.Column('records_sha256', sa.String(length=64), nullable=False),
    sa.Column('credential_id', sa.String(length=64), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['core_organization.id'], name=op.f('fk_modeleval_run_organization_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_modeleval_run')),
    sa.UniqueConstraint('run_key', name=op.f('uq_modeleval_run_run_key'))
    )
    with op.batch_alter_table('modeleval_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_modeleval_run_model'), ['model'], unique=False)
        batch_op.create_index(batch_op.f('ix_modeleval_run_organization_id'), ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('modeleval_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_modeleval_run_organization_id'))
        batch_op.drop_index(batch_op.f('ix_modeleval_run_model'))
    op.drop_table('modeleval_run')
