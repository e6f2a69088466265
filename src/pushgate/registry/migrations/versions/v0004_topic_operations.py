"""FCM topic subscription operations: what was asked, and the result the worker recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "topic_operations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("topic", sa.String(900), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tokens", sa.JSON(), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
    )
    op.create_index("ix_topic_operations_app_id", "topic_operations", ["app_id"])


def downgrade() -> None:
    op.drop_index("ix_topic_operations_app_id", "topic_operations")
    op.drop_table("topic_operations")
