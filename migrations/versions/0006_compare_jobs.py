"""comparison jobs: job kind ``compare``

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 14:00:00.000000

``jobs.kind`` is a VARCHAR with a CHECK constraint (``native_enum=False``): adding
``compare`` replaces the constraint (SQLite: batch mode recreates ``jobs``; migrations/env.py
keeps SQLite's foreign keys off meanwhile, so model versions pointing at jobs stay).
Downgrading deletes the comparison jobs (the old constraint knows no ``compare``; their
results live only in their rows).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _kinds(*kinds: str) -> None:
    listed = ", ".join(f"'{k}'" for k in kinds)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_job_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_jobs_job_kind'), sa.text(f"kind IN ({listed})"))


def upgrade() -> None:
    """Upgrade schema."""
    _kinds('media', 'features', 'train', 'predict', 'compare')


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DELETE FROM jobs WHERE kind = 'compare'")
    _kinds('media', 'features', 'train', 'predict')
