"""Hosts by id; leases; heartbeats and results of operations.

History and operations named their host by URI; they now name it by its
id in the new hosts table (see engine/hosts.py for how ids are chosen). The
hosts are made here from the URIs the rows had, in the order the database
first met them, so the first local one becomes ``local``. The rule is
written out again below rather than imported: a migration must keep doing
what it did when it was written, whatever hosts.py becomes.

Operations gain the machine their process ran on (rows from before were
written by the embedded CLI on the machine holding the database, so they
get this machine's id), who owns them, a heartbeat, a result and an error
code. The leases table is new.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def _machine_id() -> str:
    for path in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        try:
            return path.read_text().strip()
        except OSError:
            continue
    return ""


def _hosts_for(uris: list[str]) -> list[tuple[str, str, str]]:
    """(id, uri, name) for each URI, in order: hosts.py's rule as of this revision."""
    ids: set[str] = set()
    names: set[str] = set()
    hosts = []
    for uri in uris:
        hostname = urlsplit(uri).hostname
        if not hostname and "local" not in ids:
            host_id = "local"
        else:
            digest = hashlib.sha256(uri.encode()).hexdigest()
            host_id = next(
                f"h-{digest[:n]}" for n in (8, 12, 16, 24, 32) if f"h-{digest[:n]}" not in ids
            )
        wanted = "local" if host_id == "local" else (hostname or host_id)
        name = wanted if wanted not in names else host_id
        ids.add(host_id)
        names.add(name)
        hosts.append((host_id, uri, name))
    return hosts


def _first_seen() -> list[tuple[str, datetime]]:
    """Each host URI in the old rows with when it first appeared, earliest first."""
    versions = sa.table(
        "domain_versions", sa.column("host_uri", sa.String), sa.column("created_at", _WHEN)
    )
    operations = sa.table(
        "operations", sa.column("host_uri", sa.String), sa.column("started_at", _WHEN)
    )
    conn = op.get_bind()
    seen: dict[str, datetime] = {}
    for uri_col, when_col in (
        (versions.c.host_uri, versions.c.created_at),
        (operations.c.host_uri, operations.c.started_at),
    ):
        for uri, when in conn.execute(sa.select(uri_col, sa.func.min(when_col)).group_by(uri_col)):
            if uri not in seen or when < seen[uri]:
                seen[uri] = when
    return sorted(seen.items(), key=lambda item: (item[1], item[0]))


def _host_id_of(table: str) -> sa.TextClause:
    return sa.text(
        f"UPDATE {table} SET host_id = "
        f"(SELECT hosts.id FROM hosts WHERE hosts.uri = {table}.host_uri)"
    )


def _host_uri_of(table: str) -> sa.TextClause:
    return sa.text(
        f"UPDATE {table} SET host_uri = "
        f"(SELECT hosts.uri FROM hosts WHERE hosts.id = {table}.host_id)"
    )


def upgrade() -> None:
    hosts = op.create_table(
        "hosts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("uri", sa.String(512), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.UniqueConstraint("uri", name="uq_hosts_uri"),
        sa.UniqueConstraint("name", name="uq_hosts_name"),
    )
    first_seen = _first_seen()
    when = dict(first_seen)
    rows = [
        {"id": host_id, "uri": uri, "name": name, "created_at": when[uri]}
        for host_id, uri, name in _hosts_for([uri for uri, _when in first_seen])
    ]
    if rows:
        op.bulk_insert(hosts, rows)
    conn = op.get_bind()

    # -- domain_versions: (host_uri, uuid, version) becomes (host_id, uuid, version)
    op.drop_index("ix_domain_versions_host_name_uuid", table_name="domain_versions")
    op.drop_index("ix_domain_versions_host_uri", table_name="domain_versions")
    with op.batch_alter_table("domain_versions") as batch:
        batch.add_column(sa.Column("host_id", sa.String(40), nullable=True))
    conn.execute(_host_id_of("domain_versions"))
    with op.batch_alter_table("domain_versions") as batch:
        batch.alter_column("host_id", existing_type=sa.String(40), nullable=False)
        # Takes the unique constraint on (host_uri, domain_uuid, version) with it.
        batch.drop_column("host_uri")
        batch.create_unique_constraint(
            "uq_domain_versions_host_uuid_version", ["host_id", "domain_uuid", "version"]
        )
        batch.create_foreign_key("fk_domain_versions_host_id", "hosts", ["host_id"], ["id"])
    op.create_index(
        "ix_domain_versions_host_name_uuid",
        "domain_versions",
        ["host_id", "domain_name", "domain_uuid"],
    )

    # -- operations: host by id, and who runs it, its heartbeat and outcome
    op.drop_index("ix_operations_host_uri", table_name="operations")
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("host_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("machine_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("owner", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("error_code", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("result", sa.Text(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", _WHEN, nullable=True))
    conn.execute(_host_id_of("operations"))
    conn.execute(
        sa.text("UPDATE operations SET machine_id = :machine, owner = process"),
        {"machine": _machine_id()},
    )
    with op.batch_alter_table("operations") as batch:
        batch.alter_column("host_id", existing_type=sa.String(40), nullable=False)
        batch.drop_column("host_uri")
        batch.create_foreign_key("fk_operations_host_id", "hosts", ["host_id"], ["id"])
    op.create_index("ix_operations_host_id", "operations", ["host_id"])

    op.create_table(
        "leases",
        sa.Column("host", sa.String(512), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("label", sa.String(320), nullable=False),
        sa.Column("acquired_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("heartbeat_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    conn = op.get_bind()

    op.drop_index("ix_operations_host_id", table_name="operations")
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("host_uri", sa.String(512), nullable=True))
    conn.execute(_host_uri_of("operations"))
    with op.batch_alter_table("operations") as batch:
        batch.alter_column("host_uri", existing_type=sa.String(512), nullable=False)
        for column in ("host_id", "machine_id", "owner", "error_code", "result", "heartbeat_at"):
            batch.drop_column(column)
    op.create_index("ix_operations_host_uri", "operations", ["host_uri"])

    op.drop_index("ix_domain_versions_host_name_uuid", table_name="domain_versions")
    with op.batch_alter_table("domain_versions") as batch:
        batch.add_column(sa.Column("host_uri", sa.String(512), nullable=True))
    conn.execute(_host_uri_of("domain_versions"))
    with op.batch_alter_table("domain_versions") as batch:
        batch.alter_column("host_uri", existing_type=sa.String(512), nullable=False)
        batch.drop_column("host_id")
        batch.create_unique_constraint(
            "uq_domain_versions_host_uri_uuid_version", ["host_uri", "domain_uuid", "version"]
        )
    op.create_index("ix_domain_versions_host_uri", "domain_versions", ["host_uri"])
    op.create_index(
        "ix_domain_versions_host_name_uuid",
        "domain_versions",
        ["host_uri", "domain_name", "domain_uuid"],
    )
    op.drop_table("hosts")
