"""segments (drawn or accepted predictions) and the validation flag of videos

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('video_id', sa.Integer(), nullable=False),
    sa.Column('annotator_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('source', sa.Enum('drawn', 'prediction', name='segment_source', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=True),
    sa.Column('prediction_score', sa.Float(), nullable=True),
    sa.Column('predicted_start_s', sa.Float(), nullable=True),
    sa.Column('predicted_end_s', sa.Float(), nullable=True),
    sa.Column('client_key', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('end_s > start_s', name=op.f('ck_segments_end_after_start')),
    sa.CheckConstraint('start_s >= 0', name=op.f('ck_segments_start_nonneg')),
    sa.ForeignKeyConstraint(['annotator_id'], ['users.id'], name=op.f('fk_segments_annotator_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['class_id'], ['action_classes.id'], name=op.f('fk_segments_class_id_action_classes'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_segments_model_version_id_model_versions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_segments_video_id_videos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('annotator_id', 'client_key', name=op.f('uq_segments_annotator_id_client_key'))
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index('ix_segments_video_annotator', ['video_id', 'annotator_id'], unique=False)

    with op.batch_alter_table('videos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_validation', sa.Boolean(), server_default=sa.text('false'), nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('videos', schema=None) as batch_op:
        batch_op.drop_column('is_validation')

    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index('ix_segments_video_annotator')

    op.drop_table('segments')
