"""Cancelled deliveries: a ``cancelled`` counter on sends, room for the status in deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

A cancelled send records every device it had not yet delivered to as
``cancelled`` (9 characters: the delivery status column grows from 8), and
counts them, so ``pending`` reaches zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("cancelled", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("sends") as batch:
        # The default only filled the existing rows; the models write the value themselves.
        batch.alter_column("cancelled", server_default=None)
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("status", type_=sa.String(16), existing_type=sa.String(8),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("status", type_=sa.String(8), existing_type=sa.String(16),
                           existing_nullable=False)
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("cancelled")
