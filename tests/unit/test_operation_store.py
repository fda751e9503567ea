"""The operations store: rows by host id, heartbeats, outcomes, and who counts as orphaned.

A process here is judged by /proc at once; a process on another machine (or
on a clone of this one, or from before a reboot) only by its heartbeat. The
other machines are rows whose machine or boot id says so.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Session

from virtdeck.engine import db
from virtdeck.engine.hosts import HostStore
from virtdeck.engine.operation_record import (
    FAILED,
    INTERRUPTED,
    SUCCEEDED,
    default_owner,
    machine_id,
    process_identity,
)
from virtdeck.engine.operations import OperationRow, OperationStore


@pytest.fixture
def database(database_url: str) -> Iterator[SqlEngine]:
    """A migrated database: SQLite, then PostgreSQL (tests/db_urls.py)."""
    engine = db.open_migrated(Path("/nonexistent"), database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(database: SqlEngine) -> OperationStore:
    HostStore(database).ensure("test:///default")  # id "local"
    HostStore(database).ensure("qemu+ssh://hv2/system")
    return OperationStore(database)


def set_row(database: SqlEngine, op_id: int, **values: object) -> None:
    with Session(database) as session, session.begin():
        session.execute(update(OperationRow).where(OperationRow.id == op_id).values(**values))


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def test_rows_belong_to_a_host_by_id(store: OperationStore, database: SqlEngine) -> None:
    here = store.begin("local", "create", "web1", "checking the disk")
    [remote] = [h.id for h in HostStore(database).all() if h.id != "local"]
    there = store.begin(remote, "clone", "web2", "copying", owner="server-b")
    assert [r.id for r in store.recent("local", 10)] == [here]
    assert [r.id for r in store.recent(remote, 10)] == [there]
    record = store.get(here)
    assert record is not None
    assert (record.host_id, record.owner, record.machine_id) == (
        "local",
        default_owner(),
        machine_id(),
    )
    assert record.process == process_identity() and record.heartbeat_at is None
    other = store.get(there)
    assert other is not None and other.owner == "server-b"


def test_a_heartbeat_is_recorded_while_running_and_refused_after(store: OperationStore) -> None:
    op = store.begin("local", "create", "web1", "defining the VM")
    before = datetime.now(UTC)
    assert store.heartbeat(op) is True
    record = store.get(op)
    assert record is not None and record.heartbeat_at is not None
    assert record.heartbeat_at >= before
    store.finish(op, SUCCEEDED, step="done", result='{"uuid": "u-1"}')
    # Finished: its process must not go on as if it still ran it.
    assert store.heartbeat(op) is False
    taken = store.begin("local", "create", "web2", "defining the VM")
    assert store.take_over(taken) is True
    assert store.heartbeat(taken) is False
    assert store.take_over(taken) is False


def test_finish_keeps_the_result_and_the_error_code(store: OperationStore) -> None:
    ok = store.begin("local", "snapshot", "web1", "saving")
    store.finish(ok, SUCCEEDED, step="done", result='{"snapshot": "s1"}')
    bad = store.begin("local", "create", "web2", "defining")
    store.finish(bad, FAILED, "VM web2 exists", error_code="conflict")
    done, failed = store.get(ok), store.get(bad)
    assert done is not None and failed is not None
    assert (done.state, done.progress, done.result, done.error_code) == (
        SUCCEEDED,
        100,
        '{"snapshot": "s1"}',
        "",
    )
    assert (failed.state, failed.error, failed.result, failed.error_code) == (
        FAILED,
        "VM web2 exists",
        None,
        "conflict",
    )
    assert done.ended_at is not None and failed.ended_at is not None


def test_a_dead_process_here_is_orphaned_at_once(
    store: OperationStore, database: SqlEngine, database_url: str
) -> None:
    script = (
        "from pathlib import Path\n"
        "from virtdeck.engine.db import open_migrated\n"
        "from virtdeck.engine.operations import OperationStore\n"
        f"print(OperationStore(open_migrated(Path('/nonexistent'), {database_url!r})).begin("
        "'local', 'create', 'web1', 'defining the VM'))"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr
    dead = int(child.stdout)
    alive = store.begin("local", "create", "web2", "defining the VM")
    # However long a heartbeat may be silent, /proc knows now.
    assert [r.id for r in store.orphaned("local", stale_after=3600)] == [dead]
    # And a live one here is never orphaned, heartbeat or none.
    set_row(database, alive, started_at=ago(7200))
    assert [r.id for r in store.orphaned("local", stale_after=1)] == [dead]
    store.finish(dead, INTERRUPTED, "cleaned up")
    assert store.orphaned("local", stale_after=0) == []


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"machine_id": "another-machine"},
        # A clone of this machine (same machine id) or this one before a
        # reboot: its pid says nothing here.
        {"process": "another-boot/1/1"},
    ],
)
def test_a_process_elsewhere_is_orphaned_when_its_heartbeat_is_stale(
    store: OperationStore, database: SqlEngine, elsewhere: dict[str, str]
) -> None:
    beating = store.begin("local", "migrate", "web1", "copying memory")
    silent = store.begin("local", "migrate", "web2", "copying memory")
    never = store.begin("local", "migrate", "web3", "copying memory")
    young = store.begin("local", "migrate", "web4", "copying memory")
    for op in (beating, silent, never, young):
        set_row(database, op, **elsewhere)
    set_row(database, beating, started_at=ago(600), heartbeat_at=ago(5))
    set_row(database, silent, started_at=ago(600), heartbeat_at=ago(120))
    set_row(database, never, started_at=ago(120))
    set_row(database, young, started_at=ago(5))
    assert sorted(r.id for r in store.orphaned("local", stale_after=60)) == [silent, never]
    assert store.heartbeat(silent) is True
    assert [r.id for r in store.orphaned("local", stale_after=60)] == [never]
