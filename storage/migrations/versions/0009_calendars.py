"""personal calendar links

Revision ID: 0009_calendars
Revises: 0004_requests
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = '0009_calendars'
down_revision = '0004_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id'),
    sa.UniqueConstraint('token_hash')
    )


def downgrade() -> None:
    op.drop_table('calendar_token')
