"""Webhook secret rotation with a grace period: the previous secret and when it stops signing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as table:
        table.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        table.add_column(sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as table:
        table.drop_column("previous_secret_until")
        table.drop_column("previous_secret")
