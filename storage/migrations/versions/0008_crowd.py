"""crowd health: opt-in member profiles and the members featured in a story

Revision ID: 0008_crowd
Revises: 0004_requests
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = '0008_crowd'
down_revision = '0004_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_profile',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('career', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('gender', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('updated_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_table('story_feature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('story_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('added_by', sa.Integer(), nullable=True),
    sa.Column('added_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by'], ['member.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['story_id'], ['story.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('story_id', 'member_id', name='uq_story_feature')
    )
    with op.batch_alter_table('story_feature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_story_feature_member_id'), ['member_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_story_feature_story_id'), ['story_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('story_feature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_story_feature_story_id'))
        batch_op.drop_index(batch_op.f('ix_story_feature_member_id'))
    op.drop_table('story_feature')
    op.drop_table('member_profile')
