"""one history again: publication, crowd health and calendars side by side

Each of the three was written on 0004_requests and has been applied to databases in
that place; a database at any of them upgrades to the others through this merge.

Revision ID: 0010_merge
Revises: 0007_publication, 0008_crowd, 0009_calendars
Create Date: 2026-11-30 16:00:00
"""

revision = '0010_merge'
down_revision = ('0007_publication', '0008_crowd', '0009_calendars')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
