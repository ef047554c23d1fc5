"""shared runtime: updates identified by a channel's string id; agents' messages held for QQ's reply window

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_key', sa.String(length=128), nullable=True))
        batch_op.create_index('ux_inbound_updates_event_key', ['channel', 'event_key'], unique=True)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('held_noticed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('held_noticed_at')
        batch_op.drop_column('held_at')
    with op.batch_alter_table('inbound_updates', schema=None) as batch_op:
        batch_op.drop_index('ux_inbound_updates_event_key')
        batch_op.drop_column('event_key')
