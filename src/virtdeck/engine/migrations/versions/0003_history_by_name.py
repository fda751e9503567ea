"""Which VMs have had a name: an index for history by name, across UUIDs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 'vm history NAME' asks for every UUID that had NAME on a host.
    op.create_index(
        "ix_domain_versions_host_name_uuid",
        "domain_versions",
        ["host_uri", "domain_name", "domain_uuid"],
    )


def downgrade() -> None:
    op.drop_index("ix_domain_versions_host_name_uuid", table_name="domain_versions")
