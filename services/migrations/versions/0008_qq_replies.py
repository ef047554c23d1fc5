"""QQ: reply windows of the official API, and what became of each message sent

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reply_windows',
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('chat_key', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('reference_kind', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'chat_key', 'user_id', name=op.f('pk_reply_windows'))
    )
    op.create_table('outbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('chat_key', sa.String(length=128), nullable=False),
    sa.Column('outcome', sa.Enum('sent', 'failed', 'unknown', name='send_outcome', native_enum=False, create_constraint=True, length=7), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('failure', sa.String(length=64), nullable=True),
    sa.Column('channel_message_id', sa.String(length=128), nullable=True),
    sa.Column('reply_to', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_messages'))
    )
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_messages_created', ['created_at'], unique=False)
        batch_op.create_index('ix_outbound_messages_sent', ['channel', 'chat_key', 'channel_message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_messages_sent')
        batch_op.drop_index('ix_outbound_messages_created')
    op.drop_table('outbound_messages')
    op.drop_table('reply_windows')
