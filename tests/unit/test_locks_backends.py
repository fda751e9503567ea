"""The lock manager's two backends: flock files and database leases.

Each rule is checked on both: a held key conflicts with another holder
(another thread, another process), a nested hold of one's own key is a
no-op, and what a thread holds is its own. The lease backend has its own
cases: expiry of a dead holder, the heartbeat, release by whoever owns it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine as SqlEngine
from tests.db_urls import empty_database

from virtdeck.engine import db
from virtdeck.engine.leases import LeaseRow
from virtdeck.engine.locks import FileLocks, LeaseLocks, LockKey, LockManager
from virtdeck.errors import Conflict, InvalidInput

HOST = "test:///default"
WEB1 = LockKey(HOST, "name", "web1")
WEB2 = LockKey(HOST, "name", "web2")

MakeLocks = Callable[[str], LockManager]


@pytest.fixture
def database(database_url: str) -> Iterator[SqlEngine]:
    """A migrated database: SQLite, then PostgreSQL (tests/db_urls.py)."""
    engine = db.open_migrated(Path("/nonexistent"), database_url)
    yield engine
    engine.dispose()


# The backends: flock files, and leases in SQLite and in PostgreSQL.
BACKENDS = ["file", "lease-sqlite", pytest.param("lease-postgresql", marks=pytest.mark.postgres)]
# (backend, database URL): the URL of a migrated database for leases, None for files.
Backend = tuple[str, str | None]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = str(request.param)
    if kind == "file":
        yield "file", None
        return
    with empty_database(kind.removeprefix("lease-"), tmp_path) as url:
        db.migrate(url)
        yield "lease", url


@pytest.fixture
def make_locks(backend: Backend, tmp_path: Path) -> Iterator[MakeLocks]:
    """``make_locks(owner)``: a lock manager of the backend under test."""
    _kind, url = backend
    if url is None:
        yield lambda _owner: FileLocks(tmp_path / "locks")
        return
    engine = db.open_database(url)
    yield lambda owner: LeaseLocks(engine, owner)
    engine.dispose()


def in_thread(action: Callable[[], object]) -> object:
    """What ``action`` returns (or raises) when run in a thread of its own."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    return outcome[0]


def try_hold(locks: LockManager, key: LockKey, action: str = "second") -> object:
    """'got it', or the Conflict that taking ``key`` met."""
    with locks.hold(key, f"VM {key.value}", action):
        return "got it"


# -- both backends ------------------------------------------------------------


def test_a_held_key_conflicts_in_another_thread_and_frees_on_release(
    make_locks: MakeLocks,
) -> None:
    first, second = make_locks("server-a"), make_locks("server-b")
    with first.hold(WEB1, "VM web1", "start"):
        busy = in_thread(lambda: try_hold(second, WEB1))
        assert isinstance(busy, Conflict)
        assert busy.message.startswith("VM web1 is busy (start by ")
        assert busy.message.endswith("); wait for that to finish, then retry")
        # Another key is free meanwhile.
        assert in_thread(lambda: try_hold(second, WEB2)) == "got it"
    assert in_thread(lambda: try_hold(second, WEB1)) == "got it"


def test_a_thread_of_the_same_manager_does_not_share_its_holds(make_locks: MakeLocks) -> None:
    locks = make_locks("server-a")
    with locks.hold(WEB1, "VM web1", "start"):
        assert locks.held_here(WEB1)
        assert in_thread(lambda: locks.held_here(WEB1)) is False
        assert isinstance(in_thread(lambda: try_hold(locks, WEB1)), Conflict)

        def hold_web2_and_look() -> tuple[bool, bool]:
            with locks.hold(WEB2, "VM web2", "stop"):
                return locks.held_here(WEB2), locks.held_here(WEB1)

        assert in_thread(hold_web2_and_look) == (True, False)
        assert not locks.held_here(WEB2)
    assert not locks.held_here(WEB1)


def test_a_nested_hold_of_ones_own_key_is_a_no_op(make_locks: MakeLocks) -> None:
    locks, other = make_locks("server-a"), make_locks("server-b")
    with locks.hold(WEB1, "VM web1", "restore"):
        with locks.hold(WEB1, "VM web1", "clean up"):
            assert locks.held_here(WEB1)
        # The inner block's end let nothing go.
        assert locks.held_here(WEB1)
        busy = in_thread(lambda: try_hold(other, WEB1))
        assert isinstance(busy, Conflict) and "(restore by " in busy.message
    assert not locks.held_here(WEB1)
    assert in_thread(lambda: try_hold(other, WEB1)) == "got it"


def test_asyncio_tasks_hold_for_themselves(make_locks: MakeLocks) -> None:
    locks = make_locks("server-a")
    seen: dict[str, object] = {}

    async def holder(started: asyncio.Event, done: asyncio.Event) -> None:
        with locks.hold(WEB1, "VM web1", "start"):
            started.set()
            await done.wait()

    async def other(started: asyncio.Event, done: asyncio.Event) -> None:
        await started.wait()
        seen["held"] = locks.held_here(WEB1)
        try:
            seen["hold"] = try_hold(locks, WEB1)
        except Conflict as exc:
            seen["hold"] = exc
        done.set()

    async def main() -> None:
        started, done = asyncio.Event(), asyncio.Event()
        await asyncio.gather(holder(started, done), other(started, done))

    asyncio.run(main())
    assert seen["held"] is False
    assert isinstance(seen["hold"], Conflict)


def holder_script(backend: Backend, tmp_path: Path, die_inside: bool = False) -> str:
    """A child that takes web1, says 'held', and waits for a line (or dies at once)."""
    _kind, url = backend
    if url is None:
        make = f"FileLocks(Path({str(tmp_path / 'locks')!r}))"
    else:
        make = f"LeaseLocks(open_database({url!r}), 'child', ttl=0.5)"
    end = "os._exit(0)" if die_inside else "sys.stdin.readline()"
    return textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from virtdeck.engine.db import open_database
        from virtdeck.engine.locks import FileLocks, LeaseLocks, LockKey
        locks = {make}
        with locks.hold(LockKey({HOST!r}, "name", "web1"), "VM web1", "create"):
            print("held", flush=True)
            {end}
        """
    )


def test_a_key_held_by_another_process_conflicts_until_it_lets_go(
    backend: Backend, make_locks: MakeLocks, tmp_path: Path
) -> None:
    locks = make_locks("parent")
    child = subprocess.Popen(
        [sys.executable, "-c", holder_script(backend, tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        with pytest.raises(Conflict, match=r"VM web1 is busy \(create by "):
            try_hold(locks, WEB1)
    finally:
        child.communicate("go\n", timeout=10)
    assert child.returncode == 0
    assert try_hold(locks, WEB1) == "got it"


# -- the file backend -----------------------------------------------------------


def test_lock_files_are_per_key_and_go_with_the_lock(tmp_path: Path) -> None:
    locks = FileLocks(tmp_path)
    uuid = str(uuidlib.uuid4())
    vm = LockKey(HOST, "vm", uuid)
    assert len({locks.path(vm), locks.path(LockKey(HOST, "name", uuid)), locks.path(WEB1)}) == 3
    # One VM, one key, whatever case its UUID came in.
    assert LockKey(HOST, "vm", uuid.upper()) == vm
    with locks.hold(vm, "VM web1", "start"):
        assert locks.path(vm).read_text() == f"start by pid {os.getpid()}"
        assert oct(locks.path(vm).stat().st_mode & 0o777) == oct(0o600)
    assert list(tmp_path.iterdir()) == []


def test_a_key_refuses_what_cannot_be_a_name_or_a_uuid() -> None:
    with pytest.raises(InvalidInput, match="longer than 255 characters"):
        LockKey(HOST, "name", "x" * 4096)
    with pytest.raises(InvalidInput, match="'web1' is not one"):
        LockKey(HOST, "vm", "web1")
    with pytest.raises(InvalidInput, match="empty host"):
        LockKey("", "name", "web1")


# -- the lease backend ----------------------------------------------------------


def lease_of(database: SqlEngine, key: LockKey) -> LeaseRow | None:
    with database.connect() as conn:
        row = conn.execute(
            select(LeaseRow).where(
                LeaseRow.host == key.host, LeaseRow.kind == key.kind, LeaseRow.value == key.value
            )
        ).first()
    return None if row is None else LeaseRow(**row._asdict())


def test_two_owners_conflict_even_in_one_thread(database: SqlEngine) -> None:
    first, second = LeaseLocks(database, "server-a"), LeaseLocks(database, "server-b")
    with first.hold(WEB1, "VM web1", "migrate"):
        assert not second.held_here(WEB1)
        with pytest.raises(Conflict, match=r"^VM web1 is busy \(migrate by server-a\); wait"):
            try_hold(second, WEB1)
        row = lease_of(database, WEB1)
        assert row is not None and (row.owner, row.action, row.label) == (
            "server-a",
            "migrate",
            "VM web1",
        )
    assert lease_of(database, WEB1) is None


def test_the_lease_of_a_holder_that_died_is_taken_over_after_its_ttl(
    tmp_path: Path, database: SqlEngine, database_url: str
) -> None:
    died = subprocess.run(
        [sys.executable, "-c", holder_script(("lease", database_url), tmp_path, die_inside=True)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert died.stdout == "held\n"
    locks = LeaseLocks(database, "survivor")
    # Still within its ttl (0.5 s): nobody can tell yet that it died.
    with pytest.raises(Conflict, match=r"\(create by child\)"):
        try_hold(locks, WEB1)
    time.sleep(0.6)
    with locks.hold(WEB1, "VM web1", "clean up"):
        row = lease_of(database, WEB1)
        assert row is not None and row.owner == "survivor"
    assert lease_of(database, WEB1) is None


def test_the_heartbeat_keeps_a_lease_beyond_its_ttl(database: SqlEngine) -> None:
    holder = LeaseLocks(database, "server-a", ttl=0.3)
    other = LeaseLocks(database, "server-b", ttl=0.3)
    with holder.hold(WEB1, "VM web1", "migrate"):
        first = lease_of(database, WEB1)
        deadline = time.monotonic() + 1.2  # four ttls
        while time.monotonic() < deadline:
            with pytest.raises(Conflict):
                try_hold(other, WEB1)
            time.sleep(0.05)
        renewed = lease_of(database, WEB1)
        assert first is not None and renewed is not None
        assert renewed.expires_at > first.expires_at
        assert renewed.heartbeat_at > first.heartbeat_at
        assert renewed.token == first.token and renewed.acquired_at == first.acquired_at
    assert try_hold(other, WEB1) == "got it"


def test_release_by_another_owner_does_nothing(database: SqlEngine) -> None:
    holder, other = LeaseLocks(database, "server-a"), LeaseLocks(database, "server-b")
    with holder.hold(WEB1, "VM web1", "start"):
        assert other.release(WEB1) is False
        assert lease_of(database, WEB1) is not None
        with pytest.raises(Conflict):
            try_hold(other, WEB1)
    assert other.release(WEB1) is False  # nothing there any more


def test_an_owner_releases_a_lease_left_by_an_earlier_life(
    tmp_path: Path, database: SqlEngine, database_url: str
) -> None:
    subprocess.run(
        [sys.executable, "-c", holder_script(("lease", database_url), tmp_path, die_inside=True)],
        check=True,
    )
    # The same owner again (a restarted server): its old lease can go at once.
    assert LeaseLocks(database, "child").release(WEB1) is True
    assert try_hold(LeaseLocks(database, "server-b"), WEB1) == "got it"


def test_a_lease_needs_a_sensible_ttl_and_an_owner(database: SqlEngine) -> None:
    with pytest.raises(ValueError, match="heartbeat between 0 and the ttl"):
        LeaseLocks(database, "a", ttl=1.0, heartbeat=2.0)
    with pytest.raises(ValueError, match="ttl above 0"):
        LeaseLocks(database, "a", ttl=0)
    with pytest.raises(ValueError, match="empty one"):
        LeaseLocks(database, "")


def race_for(database: SqlEngine, key: LockKey, racers: int) -> list[str]:
    """What each of ``racers`` owners, let go at once, met taking ``key``: sorted."""
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    guard = threading.Lock()
    everyone_tried = threading.Event()

    def note(outcome: str) -> None:
        with guard:
            outcomes.append(outcome)
            if outcomes.count("conflict") == racers - 1:
                everyone_tried.set()

    def race(index: int) -> None:
        locks = LeaseLocks(database, f"server-{index}")
        barrier.wait()
        try:
            with locks.hold(key, "VM race", "create"):
                note("won")
                # Held until the others have tried (a second winner waits in vain).
                everyone_tried.wait(5)
        except Conflict as exc:
            note("conflict" if "is busy (create by server-" in exc.message else repr(exc))
        except Exception as exc:
            note(repr(exc))

    workers = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return sorted(outcomes)


@pytest.mark.parametrize("before", ["no lease", "an expired lease"])
def test_owners_racing_for_one_lease_get_one_winner_and_conflicts(
    database: SqlEngine, before: str
) -> None:
    """Eight servers at once: one holds the key, seven get Conflict, never a database error.

    With no row yet they race to insert it; with an expired one, to take it over.
    """
    for round_ in range(10):
        key = LockKey(HOST, "name", f"race{round_}")
        if before == "an expired lease":
            gone = datetime.now(UTC) - timedelta(minutes=5)
            with database.begin() as conn:
                conn.execute(
                    insert(LeaseRow).values(
                        host=key.host,
                        kind=key.kind,
                        value=key.value,
                        owner="dead",
                        token="0" * 32,
                        action="create",
                        label="VM race",
                        acquired_at=gone,
                        expires_at=gone,
                        heartbeat_at=gone,
                    )
                )
        assert race_for(database, key, racers=8) == ["conflict"] * 7 + ["won"], f"round {round_}"
        assert lease_of(database, key) is None
