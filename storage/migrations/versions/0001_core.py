"""core tables

Revision ID: 0001_core
Revises: 
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reminders_enabled', sa.Boolean(), nullable=False),
    sa.Column('dm_channel', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('last_assigned_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'user_id', name='uq_member_identity')
    )
    op.create_table('system_state',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('away_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('away_period', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_away_period_member_id'), ['member_id'], unique=False)

    op.create_table('calendar_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('starts_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('is_slot', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('calendar_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_event_starts_at'), ['starts_at'], unique=False)

    op.create_table('story',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('objective', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('featured', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('result_link', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('embargo_until', sa.Date(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('assignment_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('draft_due', sa.Date(), nullable=True),
    sa.Column('draft_link', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('decline_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('scheduled_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('media_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('state_changed_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('published_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('story', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_story_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_story_media_id'), ['media_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_story_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_story_reviewer_id'), ['reviewer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_story_scheduled_at'), ['scheduled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_story_state'), ['state'], unique=False)

    op.create_table('outbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unique_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('story_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('due_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('lease_until', storage.models.UTCDateTime(), nullable=True),
    sa.Column('sent_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('platform_message_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['story_id'], ['story.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unique_key')
    )
    with op.batch_alter_table('outbound', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_due', ['status', 'due_at'], unique=False)

    op.create_table('story_card',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('story_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['story_id'], ['story.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'story_id', name='uq_story_card')
    )
    op.create_table('story_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('story_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['story_id'], ['story.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('story_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_story_event_story_id'), ['story_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('story_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_story_event_story_id'))

    op.drop_table('story_event')
    op.drop_table('story_card')
    with op.batch_alter_table('outbound', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_due')

    op.drop_table('outbound')
    with op.batch_alter_table('story', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_story_state'))
        batch_op.drop_index(batch_op.f('ix_story_scheduled_at'))
        batch_op.drop_index(batch_op.f('ix_story_reviewer_id'))
        batch_op.drop_index(batch_op.f('ix_story_published_at'))
        batch_op.drop_index(batch_op.f('ix_story_media_id'))
        batch_op.drop_index(batch_op.f('ix_story_author_id'))

    op.drop_table('story')
    with op.batch_alter_table('calendar_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_event_starts_at'))

    op.drop_table('calendar_event')
    with op.batch_alter_table('away_period', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_away_period_member_id'))

    op.drop_table('away_period')
    op.drop_table('system_state')
    op.drop_table('member')
