"""Users, their API tokens and browser sessions, failed logins, and the audit log.

All new tables (engine/users.py, tokens.py, sessions.py, audit.py say what
each row means); nothing that was there changes. A user is keyed by its
name, which tokens and sessions refer to. Secrets are kept only as their
SHA-256 and passwords only as argon2id hashes; failed logins keep the
SHA-256 of the name or the address tried, not the name.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("password_changed_at", _WHEN, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column(
            "user_name",
            sa.String(64),
            sa.ForeignKey("users.name", name="fk_tokens_user_name"),
            nullable=False,
        ),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("last_used_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.UniqueConstraint("secret_sha256", name="uq_tokens_secret_sha256"),
    )
    op.create_index("ix_tokens_user_name", "tokens", ["user_name"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column(
            "user_name",
            sa.String(64),
            sa.ForeignKey("users.name", name="fk_sessions_user_name"),
            nullable=False,
        ),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.UniqueConstraint("secret_sha256", name="uq_sessions_secret_sha256"),
    )
    op.create_index("ix_sessions_user_name", "sessions", ["user_name"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
    )
    op.create_index("ix_login_failures_key", "login_failures", ["key"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource_kind", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("resource_uuid", sa.String(36), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
    )
    op.create_index("ix_audit_log_user_name", "audit_log", ["user_name"])
    op.create_index("ix_audit_log_resource", "audit_log", ["resource"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("login_failures")
    op.drop_table("sessions")
    op.drop_table("tokens")
    op.drop_table("users")
