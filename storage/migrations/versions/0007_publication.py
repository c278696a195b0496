"""posts seen on the Instagram account, and the lease of the publication watch

Revision ID: 0007_publication
Revises: 0004_requests
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = '0007_publication'
down_revision = '0004_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('seen_post',
    sa.Column('media_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('caption', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('posted_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('story_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('seen_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['story_id'], ['story.id'], ),
    sa.PrimaryKeyConstraint('media_id')
    )
    with op.batch_alter_table('seen_post', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_post_story_id'), ['story_id'], unique=False)

    op.create_table('watch_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('lease_until', storage.models.UTCDateTime(), nullable=True),
    sa.Column('checked_at', storage.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('watch_lease')
    with op.batch_alter_table('seen_post', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_post_story_id'))
    op.drop_table('seen_post')
