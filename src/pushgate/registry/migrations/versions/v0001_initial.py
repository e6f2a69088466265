"""Initial schema: apps, credentials, API keys, users, devices, sends, deliveries, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out by hand (types spelled as SQLAlchemy types, not the models'
classes) so that this script keeps describing revision 0001 when the models
move on. ``tests/registry/test_registry_migrations.py`` checks that head
matches the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
ACTIVE_JOBS = sa.text("status IN ('queued', 'leased')")


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, autoincrement=True, nullable=False)


def _fk(name: str, target: str, ondelete: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, BigId, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "apps",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("name", name="uq_apps_name"),
    )
    op.create_table(
        "api_keys",
        _id(),
        _fk("app_id", "apps.id", "CASCADE"),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_app_id", "api_keys", ["app_id"])
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    op.create_table(
        "credentials",
        _fk("app_id", "apps.id", "CASCADE"),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "provider", name="pk_credentials"),
    )
    op.create_table(
        "users",
        _id(),
        _fk("app_id", "apps.id", "CASCADE"),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("app_id", "external_id", name="uq_users_app_id_external_id"),
    )
    op.create_table(
        "user_tags",
        _fk("user_id", "users.id", "CASCADE"),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "tag", name="pk_user_tags"),
    )
    op.create_table(
        "user_optouts",
        _fk("user_id", "users.id", "CASCADE"),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "topic", name="pk_user_optouts"),
    )
    op.create_table(
        "devices",
        _id(),
        _fk("app_id", "apps.id", "CASCADE"),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("p256dh", sa.String(100), nullable=True),
        sa.Column("auth", sa.String(32), nullable=True),
        _fk("user_id", "users.id", "SET NULL", nullable=True),
        sa.Column("platform", sa.String(20), nullable=True),
        sa.Column("app_version", sa.String(50), nullable=True),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("device_id", sa.String(200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("inactive_reason", sa.String(100), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("registered_at", Timestamp, nullable=False),
        sa.Column("last_seen_at", Timestamp, nullable=False),
        sa.Column("unregistered_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint(
            "app_id", "token_hash", "provider", name="uq_devices_app_id_token_hash_provider"
        ),
    )
    op.create_index("ix_devices_fanout", "devices", ["app_id", "active", "provider", "id"])
    op.create_index("ix_devices_installation", "devices", ["app_id", "device_id"])
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "device_tags",
        _fk("device_id", "devices.id", "CASCADE"),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "tag", name="pk_device_tags"),
    )
    op.create_table(
        "sends",
        sa.Column("id", sa.String(36), nullable=False),
        _fk("app_id", "apps.id", "CASCADE"),
        sa.Column("notification", sa.JSON(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("send_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("targeted", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("dead", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("fanout_state", sa.JSON(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sends"),
        sa.UniqueConstraint("app_id", "idempotency_key", name="uq_sends_app_id_idempotency_key"),
    )
    op.create_index("ix_sends_app_created", "sends", ["app_id", "created_at"])
    op.create_index("ix_sends_status", "sends", ["status"])
    op.create_table(
        "deliveries",
        sa.Column("send_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("send_id", "device_id", name="pk_deliveries"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_deliveries_device", "deliveries", ["device_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("run_at", sa.Double(), nullable=False),
        sa.Column("due_at", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index(
        "ix_jobs_claim",
        "jobs",
        ["queue", "due_at"],
        sqlite_where=ACTIVE_JOBS,
        postgresql_where=ACTIVE_JOBS,
    )


def downgrade() -> None:
    for table in (
        "jobs",
        "deliveries",
        "sends",
        "device_tags",
        "devices",
        "user_optouts",
        "user_tags",
        "users",
        "credentials",
        "api_keys",
        "apps",
    ):
        op.drop_table(table)
