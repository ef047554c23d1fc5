"""delivery failures: a message the seller's channel refused, and whether the desk was told

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failure', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('failure_noticed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('failure_noticed_at')
        batch_op.drop_column('failure')
        batch_op.drop_column('failed_at')
