"""Send audience: what a send will enqueue, counted by admission before fan-out.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``audience`` is the number of devices a send targeted when it was accepted
(null for scheduled sends and for sends stored before this revision, which
admission then does not count); ``direct`` marks sends to named tokens,
devices or users, admitted against a bound of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("audience", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("direct", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("sends") as batch:
        # The default only filled the existing rows; the models write the value themselves.
        batch.alter_column("direct", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("direct")
        batch.drop_column("audience")
