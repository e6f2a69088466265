"""Event mode: the message catalog, event settings, event batches and per-user event state.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("cooldown", sa.Integer(), nullable=False),
        sa.Column("expiry", sa.Integer(), nullable=True),
        sa.Column("screen", sa.String(500), nullable=True),
        sa.Column("priority", sa.String(16), nullable=True),
        sa.Column("quiet_hours", sa.String(16), nullable=False),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.UniqueConstraint("app_id", "name", name="uq_event_messages_app_id_name"),
    )
    op.create_table(
        "message_localizations",
        sa.Column("message_id", BigId, sa.ForeignKey("event_messages.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("language", sa.String(35), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "event_settings",
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_table(
        "event_batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
    )
    op.create_index("ix_event_batches_app_created", "event_batches", ["app_id", "created_at"])
    op.create_table(
        "event_texts",
        sa.Column("send_id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "message_optouts",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "message_cooldowns",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("last_sent_at", Timestamp, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "user_caps",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for name in ("user_caps", "message_cooldowns", "message_optouts", "event_texts"):
        op.drop_table(name)
    op.drop_index("ix_event_batches_app_created", "event_batches")
    for name in ("event_batches", "event_settings", "message_localizations", "event_messages"):
        op.drop_table(name)
