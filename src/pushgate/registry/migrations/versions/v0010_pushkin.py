"""Pushkin compatibility: per-app languageId → locale table and the hashed route secret.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pushkin_apps",
        sa.Column("app_id", BigId, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("route_secret_hash", sa.String(64), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.UniqueConstraint("route_secret_hash", name="uq_pushkin_apps_route_secret_hash"),
    )


def downgrade() -> None:
    op.drop_table("pushkin_apps")
