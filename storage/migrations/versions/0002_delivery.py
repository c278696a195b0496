"""delivery: reminder snoozes and delivery notices

Revision ID: 0002_delivery
Revises: 0001_core
Create Date: 2026-11-22 03:27:38.996552
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = '0002_delivery'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reminder_snooze',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('story_id', sa.Integer(), nullable=False),
    sa.Column('until', storage.models.UTCDateTime(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['story_id'], ['story.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'story_id', name='uq_snooze')
    )
    with op.batch_alter_table('reminder_snooze', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_reminder_snooze_member_id'), ['member_id'], unique=False
        )

    op.create_table('delivery_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('outbound_id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('cause', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('reported_at', storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['outbound_id'], ['outbound.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('outbound_id')
    )
    with op.batch_alter_table('delivery_notice', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_notice_open', ['kind', 'reported_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('delivery_notice', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_notice_open')

    op.drop_table('delivery_notice')
    with op.batch_alter_table('reminder_snooze', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_snooze_member_id'))

    op.drop_table('reminder_snooze')
