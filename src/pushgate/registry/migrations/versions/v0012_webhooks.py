"""Delivery webhooks: an app's endpoints and the events waiting for each (docs/webhooks.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.String(300), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(300), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_success_at", Timestamp, nullable=True),
        sa.Column("last_failure_at", Timestamp, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("job_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_index("ix_webhooks_app_id", "webhooks", ["app_id"])
    op.create_table(
        "webhook_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", BigId, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("send_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("provider_timestamp", Timestamp, nullable=True),
        sa.Column("action", sa.String(100), nullable=True),
        sa.Column("at", Timestamp, nullable=False),
    )
    op.create_index("ix_webhook_events_webhook", "webhook_events", ["webhook_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_webhook", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_webhooks_app_id", table_name="webhooks")
    op.drop_table("webhooks")
