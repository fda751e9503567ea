"""Operations keep their error in parts, so each front end can spell its fields.

A failed operation's error names request fields (``memory_bytes``), which
the CLI shows as its options (``--memory``) and the API as JSON fields. The
plain ``error`` text stays as it was; ``error_parts`` is the same message as
JSON ``[[text, is_field], ...]``, NULL for rows from before and for errors
that name no field.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("error_parts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("error_parts")
