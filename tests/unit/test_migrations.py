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
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine as SqlEngine

from virtdeck.engine import db
from virtdeck.engine.history import HistoryStore
from virtdeck.engine.hosts import HostRecord, HostStore
from virtdeck.engine.operation_record import machine_id, process_identity
from virtdeck.engine.operations import OperationStore
from virtdeck.errors import HostUnavailable, InvalidInput

SYSTEM, TEST, REMOTE = "qemu:///system", "test:///default", "qemu+ssh://root@hv2/system"
UUID_A = "11111111-1111-1111-1111-111111111111"
UUID_B = "22222222-2222-2222-2222-222222222222"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    # The config interpolates: a % (a PostgreSQL socket path in the URL) is doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
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
def old_database(database_url: str) -> Iterator[tuple[str, SqlEngine]]:
    """A database at 0003 with history on three hosts and operations on two (SQLite, then PG)."""
    url = database_url
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
                    ":version, 'create', :xml, :digest, false, :when)"
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
        if engine.dialect.name == "sqlite":
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
        tables = set(inspect(conn).get_table_names())
    assert [tuple(v) for v in versions] == [(TEST, 1), (SYSTEM, 1), (SYSTEM, 2), (REMOTE, 1)]
    assert [o[0] for o in operations] == [SYSTEM, TEST, SYSTEM]
    assert "hosts" not in tables and "leases" not in tables
    engine.dispose()


def test_a_new_database_migrates_to_the_models(database_url: str) -> None:
    engine = db.open_migrated(Path("/nonexistent"), database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.schema()) == []
    engine.dispose()


def test_servers_starting_at_once_migrate_in_turn(database_url: str) -> None:
    """Four processes upgrading one new database at once: all succeed, one schema.

    PostgreSQL takes turns by an advisory lock, SQLite by a lock file.
    """
    script = "import sys; from virtdeck.engine import db; db.migrate(sys.argv[1])"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0] * 4, errors
    engine = db.open_database(database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.schema()) == []
        [version] = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert version[0] == head


def test_an_unreachable_database_is_one_sentence_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://virtdeck:s3cret-pw@/virtdeck?host={tmp_path}/no-server-here"
    with pytest.raises(HostUnavailable) as caught:
        db.open_migrated(tmp_path, url)
    message = caught.value.message
    assert "s3cret-pw" not in message and "s3cret-pw" not in str(caught.value)
    assert message.startswith(
        "cannot reach the database at postgresql://virtdeck:***@/virtdeck?host="
    )
    assert message.endswith(
        "; check that its server runs and accepts this user, or correct VIRTDECK_DATABASE_URL"
    )
    assert message.count(". ") == 0


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://root:pw@db/virtdeck", "database URLs starting mysql:// are not supported"),
        ("not a url", "cannot be read"),
    ],
)
def test_a_database_url_virtdeck_cannot_use_is_refused(
    tmp_path: Path, url: str, words: str
) -> None:
    with pytest.raises(InvalidInput, match=words) as caught:
        db.open_migrated(tmp_path, url)
    assert "pw" not in caught.value.message


def test_0006_adds_the_account_tables_and_keeps_what_was_there(database_url: str) -> None:
    """A database at 0005 with an operation in it: 0006 adds users, tokens, sessions,
    failed logins and the audit log, which today's stores then use; down again drops them."""
    from virtdeck.engine.audit import AuditStore  # noqa: PLC0415 - only this test's
    from virtdeck.engine.tokens import TokenStore  # noqa: PLC0415
    from virtdeck.engine.users import UserStore, hash_password  # noqa: PLC0415

    config = alembic_config(database_url)
    command.upgrade(config, "0005")
    engine = db.open_database(database_url)
    HostStore(engine).ensure(SYSTEM)
    op_id = OperationStore(engine).begin("local", "create", "web1", "defining the VM")
    with engine.connect() as conn:
        before = set(inspect(conn).get_table_names())
    assert "users" not in before and "audit_log" not in before
    engine.dispose()

    command.upgrade(config, "0006")
    engine = db.open_database(database_url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert compare_metadata(MigrationContext.configure(conn), db.schema()) == []
    assert {"users", "tokens", "sessions", "login_failures", "audit_log"} <= tables
    assert OperationStore(engine).get(op_id).target == "web1"
    UserStore(engine).add("alice", "admin", hash_password("password-1"))
    made = TokenStore(engine).create("ci", "alice", None)
    owner = TokenStore(engine).owner(made.secret)
    assert owner is not None and owner.user == "alice"
    entry = AuditStore(engine).record(
        user="alice",
        via="token",
        client="::1",
        action="vm.start",
        resource_kind="vm",
        resource="web1",
        outcome="ok",
        operation_id=op_id,
    )
    assert AuditStore(engine).entries(vm="web1") == [entry]
    engine.dispose()

    command.downgrade(config, "0005")
    engine = db.open_database(database_url)
    with engine.connect() as conn:
        after = set(inspect(conn).get_table_names())
    engine.dispose()
    assert after.isdisjoint({"users", "tokens", "sessions", "login_failures", "audit_log"})
    assert "operations" in after
