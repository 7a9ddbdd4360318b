"""assignments and review: assignments, assignment_events, the reviewer role

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:00:00.000000

``users.role`` is a VARCHAR with a CHECK constraint (``native_enum=False``), not a
PostgreSQL enum type: adding ``reviewer`` replaces the constraint (no ALTER TYPE). On SQLite
that recreates ``users`` (batch mode); migrations/env.py turns SQLite's foreign keys off
while migrating, so recreating a referenced table cascades nothing. Downgrading turns
reviewers into annotators (the old constraint knows no reviewer).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATES = ('new', 'in_progress', 'submitted', 'approved', 'returned')


def _state(name: str) -> sa.Enum:
    return sa.Enum(*STATES, name=name, native_enum=False, create_constraint=True, length=16)


def _roles(*roles: str) -> None:
    listed = ", ".join(f"'{r}'" for r in roles)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_users_user_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_users_user_role'), sa.text(f"role IN ({listed})"))


def upgrade() -> None:
    """Upgrade schema."""
    _roles('annotator', 'admin', 'reviewer')

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('video_id', sa.Integer(), nullable=False),
    sa.Column('annotator_id', sa.Integer(), nullable=False),
    sa.Column('state', _state('assignment_state'), nullable=False),
    sa.Column('assigned_by', sa.Integer(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['annotator_id'], ['users.id'], name=op.f('fk_assignments_annotator_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['assigned_by'], ['users.id'], name=op.f('fk_assignments_assigned_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_assignments_reviewer_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_assignments_video_id_videos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments')),
    sa.UniqueConstraint('video_id', 'annotator_id', name=op.f('uq_assignments_video_id_annotator_id'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_annotator_state', ['annotator_id', 'state'], unique=False)
        batch_op.create_index('ix_assignments_state', ['state'], unique=False)

    op.create_table('assignment_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('from_state', _state('assignment_from_state'), nullable=True),
    sa.Column('to_state', _state('assignment_to_state'), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_assignment_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_assignment_events_assignment_id_assignments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_events'))
    )
    with op.batch_alter_table('assignment_events', schema=None) as batch_op:
        batch_op.create_index('ix_assignment_events_assignment', ['assignment_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('assignment_events', schema=None) as batch_op:
        batch_op.drop_index('ix_assignment_events_assignment')
    op.drop_table('assignment_events')

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_state')
        batch_op.drop_index('ix_assignments_annotator_state')
    op.drop_table('assignments')

    op.execute("UPDATE users SET role = 'annotator' WHERE role = 'reviewer'")
    _roles('annotator', 'admin')
