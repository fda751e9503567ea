"""Schema migrations: a database made by an older virtdeck, with rows in it, upgrades.

Rows are written at revision 0003 the way that version wrote them (plain
SQL: today's models no longer have a ``host_uri``), then the database is
upgraded and read through today's stores.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine as SqlEngine

from virtdeck.engine import db
from virtdeck.engine.history import HistoryStore
from virtdeck.engine.hosts import HostRecord, HostStore
from virtdeck.engine.operation_record import machine_id, process_identity
from virtdeck.engine.operations import OperationStore

SYSTEM, TEST, REMOTE = "qemu:///system", "test:///default", "qemu+ssh://root@hv2/system"
UUID_A = "11111111-1111-1111-1111-111111111111"
UUID_B = "22222222-2222-2222-2222-222222222222"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def dead_process() -> str:
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from virtdeck.engine.operation_record import process_identity as p; print(p())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return child.stdout.strip()


@pytest.fixture
def old_database(tmp_path: Path) -> Iterator[tuple[str, SqlEngine]]:
    """A database at 0003 with history on three hosts and operations on two."""
    url = db.database_url(tmp_path)
    command.upgrade(alembic_config(url), "0003")
    engine = db.open_database(url)
    versions = [
        # (host_uri, uuid, name, version, created_at): qemu:///system was met first.
        (TEST, UUID_A, "web1", 1, "2026-01-02 10:00:00.000000"),
        (SYSTEM, UUID_A, "web1", 1, "2026-01-01 09:00:00.000000"),
        (SYSTEM, UUID_A, "web1", 2, "2026-01-03 09:00:00.000000"),
        (REMOTE, UUID_B, "db1", 1, "2026-01-04 09:00:00.000000"),
    ]
    with engine.begin() as conn:
        for uri, uuid, name, version, when in versions:
            conn.execute(
                text(
                    "INSERT INTO domain_versions (host_uri, domain_uuid, domain_name, version, "
                    "action, xml, xml_sha256, deleted, created_at) VALUES (:uri, :uuid, :name, "
                    ":version, 'create', :xml, :digest, 0, :when)"
                ),
                {
                    "uri": uri,
                    "uuid": uuid,
                    "name": name,
                    "version": version,
                    "xml": f"<domain><name>{name}</name><!-- v{version} --></domain>",
                    "digest": f"{version:064d}",
                    "when": when,
                },
            )
        for uri, process, state in [
            (SYSTEM, dead_process(), "running"),
            (TEST, process_identity(), "running"),
            (SYSTEM, process_identity(), "succeeded"),
        ]:
            conn.execute(
                text(
                    "INSERT INTO operations (host_uri, kind, target, state, step, progress, "
                    "process, resources, error, started_at) VALUES (:uri, 'create', 'web1', "
                    ":state, 'defining the VM', 50, :process, '[]', '', '2026-01-05 09:00:00')"
                ),
                {"uri": uri, "process": process, "state": state},
            )
    engine.dispose()
    yield url, engine


def test_0004_gives_old_rows_host_ids(old_database: tuple[str, SqlEngine]) -> None:
    url, _old = old_database
    command.upgrade(alembic_config(url), "head")
    engine = db.open_database(url)
    hosts = HostStore(engine)
    local, test, remote = hosts.all()
    assert local == HostRecord("local", SYSTEM, "local")
    assert (test.uri, remote.uri, remote.name) == (TEST, REMOTE, "hv2")
    assert test.id.startswith("h-") and remote.id.startswith("h-")
    # Today's HostStore agrees with the migration on the ids of URIs it meets.
    assert hosts.ensure(TEST) == test

    history = HistoryStore(engine)
    assert [v.version for v in history.versions_of("local", UUID_A)] == [1, 2]
    assert [v.version for v in history.versions_of(test.id, UUID_A)] == [1]
    assert history.uuids_named(remote.id, "db1") == [UUID_B]
    assert history.uuids_named("local", "db1") == []
    # Numbering goes on per (host, VM), as before.
    assert (
        history.record("local", UUID_A, "web1", "<domain><name>web1</name></domain>", "edit") == 3
    )
    assert history.record(test.id, UUID_A, "web1", "<domain>x</domain>", "edit") == 2

    operations = OperationStore(engine)
    dead, succeeded = operations.recent("local", 10)[::-1]
    [alive] = operations.recent(test.id, 10)
    assert (dead.host_id, dead.state, succeeded.state) == ("local", "running", "succeeded")
    assert dead.owner == dead.process and dead.machine_id == machine_id()
    assert (dead.heartbeat_at, dead.result, dead.error_code) == (None, None, "")
    # Written here before the upgrade, so /proc still decides at once.
    assert [r.id for r in operations.orphaned("local", stale_after=3600)] == [dead.id]
    assert operations.orphaned(test.id, stale_after=0) == []
    assert alive.process == process_identity()

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.schema()) == []
        plan = conn.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT domain_uuid, max(id) FROM domain_versions "
                "WHERE host_id = 'h' AND domain_name = 'n' GROUP BY domain_uuid"
            )
        ).all()
    assert "COVERING INDEX ix_domain_versions_host_name_uuid" in str(plan)
    engine.dispose()


def test_0004_downgrades_back_to_uris(old_database: tuple[str, SqlEngine]) -> None:
    url, _old = old_database
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "0003")
    engine = db.open_database(url)
    with engine.connect() as conn:
        versions = conn.execute(
            text("SELECT host_uri, version FROM domain_versions ORDER BY id")
        ).all()
        operations = conn.execute(text("SELECT host_uri FROM operations ORDER BY id")).all()
        tables = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master"))}
    assert [tuple(v) for v in versions] == [(TEST, 1), (SYSTEM, 1), (SYSTEM, 2), (REMOTE, 1)]
    assert [o[0] for o in operations] == [SYSTEM, TEST, SYSTEM]
    assert "hosts" not in tables and "leases" not in tables
    engine.dispose()


def test_a_new_database_migrates_to_the_models(tmp_path: Path) -> None:
    engine = db.open_migrated(tmp_path)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.schema()) == []
    engine.dispose()
