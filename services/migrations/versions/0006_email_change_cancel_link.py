"""login-change cancel link: the warning to the current address can stop or undo the change

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('email_change_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('previous_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('cancel_used_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_email_change_requests_cancel_token_hash'), ['cancel_token_hash']
        )


def downgrade() -> None:
    with op.batch_alter_table('email_change_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_email_change_requests_cancel_token_hash'), type_='unique')
        batch_op.drop_column('undone_at')
        batch_op.drop_column('cancel_used_at')
        batch_op.drop_column('previous_email')
        batch_op.drop_column('cancel_token_hash')
