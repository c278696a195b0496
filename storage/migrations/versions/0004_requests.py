"""one history again, and the requests already handled

Revision ID: 0004_requests
Revises: 0002_delivery, 0003_reach
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = '0004_requests'
down_revision = ('0002_delivery', '0003_reach')
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('handled_request',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reply', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('handled_request', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_handled_request_created_at'), ['created_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('handled_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handled_request_created_at'))
    op.drop_table('handled_request')
