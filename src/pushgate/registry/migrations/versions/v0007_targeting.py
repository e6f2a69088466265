"""Pushpad-compatible API: VAPID senders, and the integer ids of notifications.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pushpad_senders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("vapid_public_key", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_table(
        "pushpad_notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("send_id", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_pushpad_notifications_app_id", "pushpad_notifications", ["app_id"])


def downgrade() -> None:
    op.drop_index("ix_pushpad_notifications_app_id", "pushpad_notifications")
    op.drop_table("pushpad_notifications")
    op.drop_table("pushpad_senders")
