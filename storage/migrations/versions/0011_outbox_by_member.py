"""the outbox by recipient: an index on member and creation time

The crowd tick looks up a member's last nudge, and the dispatcher whether a DM reached
a member today; without this index both read the whole outbox, which is never pruned.

Revision ID: 0011_outbox_by_member
Revises: 0010_merge
Create Date: 2026-12-01 10:00:00
"""

from alembic import op

revision = '0011_outbox_by_member'
down_revision = '0010_merge'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbound', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_member', ['member_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbound', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_member')
