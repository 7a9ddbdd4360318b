"""retired classes: action_classes.retired_at

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 04:10:00.000000

A retired class stays on record (its clicks, labels, GT and predictions keep pointing at it)
but is hidden from the number keys and pickers and left out of training sets.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('action_classes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('action_classes', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
