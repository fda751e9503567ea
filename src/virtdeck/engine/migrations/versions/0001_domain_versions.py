"""Domain definition history.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host_uri", sa.String(512), nullable=False),
        sa.Column("domain_uuid", sa.String(36), nullable=False),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("xml_sha256", sa.String(64), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("host_uri", "domain_uuid", "version"),
    )
    op.create_index("ix_domain_versions_host_uri", "domain_versions", ["host_uri"])
    op.create_index("ix_domain_versions_domain_uuid", "domain_versions", ["domain_uuid"])
    op.create_index("ix_domain_versions_domain_name", "domain_versions", ["domain_name"])


def downgrade() -> None:
    op.drop_table("domain_versions")
