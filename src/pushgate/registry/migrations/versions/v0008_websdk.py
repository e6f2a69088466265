"""Web SDK: an app's public id, allowed origins and secret; displayed/clicked events per send.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_sdk_configs",
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("require_uid_signature", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.UniqueConstraint("public_id", name="uq_web_sdk_configs_public_id"),
    )
    op.create_table(
        "push_events",
        sa.Column("send_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(100), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_push_events_app_created", "push_events", ["app_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_push_events_app_created", "push_events")
    op.drop_table("push_events")
    op.drop_table("web_sdk_configs")
