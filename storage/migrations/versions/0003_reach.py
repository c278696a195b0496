"""reach figures: daily, weekly, per-post, audience

Revision ID: 0003_reach
Revises: 0001_core
Create Date: 2026-11-22 03:27:03.539954
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = '0003_reach'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audience_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('taken_on', sa.Date(), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('breakdown', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('timeframe', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('recorded_at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('taken_on', 'metric', 'breakdown', 'key', name='uq_audience_snapshot_key')
    )
    op.create_table('reach_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('recorded_at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('day', 'metric', name='uq_reach_daily_day_metric')
    )
    op.create_table('reach_weekly',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('recorded_at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('week_start', 'metric', name='uq_reach_weekly_week_metric')
    )
    op.create_table('reach_post',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('media_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('shortcode', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('published_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('post_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('caption', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('reach', sa.BigInteger(), nullable=True),
    sa.Column('views', sa.BigInteger(), nullable=True),
    sa.Column('impressions', sa.BigInteger(), nullable=True),
    sa.Column('likes', sa.BigInteger(), nullable=True),
    sa.Column('comments', sa.BigInteger(), nullable=True),
    sa.Column('shares', sa.BigInteger(), nullable=True),
    sa.Column('saves', sa.BigInteger(), nullable=True),
    sa.Column('follows', sa.BigInteger(), nullable=True),
    sa.Column('total_interactions', sa.BigInteger(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('recorded_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('story_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['story_id'], ['story.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('media_id')
    )
    with op.batch_alter_table('reach_post', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reach_post_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reach_post_shortcode'), ['shortcode'], unique=False)
        batch_op.create_index(batch_op.f('ix_reach_post_story_id'), ['story_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reach_post', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reach_post_story_id'))
        batch_op.drop_index(batch_op.f('ix_reach_post_shortcode'))
        batch_op.drop_index(batch_op.f('ix_reach_post_published_at'))

    op.drop_table('reach_post')
    op.drop_table('reach_weekly')
    op.drop_table('reach_daily')
    op.drop_table('audience_snapshot')
