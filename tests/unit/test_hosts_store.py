"""The hosts table: one short, stable id per libvirt URI a database has met."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Session

from virtdeck.engine import db
from virtdeck.engine.context import HostContext
from virtdeck.engine.hosts import HostRecord, HostRow, HostStore, is_local_uri
from virtdeck.errors import InvalidInput
from virtdeck.settings import Settings


def digest_id(uri: str, length: int = 8) -> str:
    return "h-" + hashlib.sha256(uri.encode()).hexdigest()[:length]


@pytest.fixture
def database(database_url: str) -> Iterator[SqlEngine]:
    """A migrated database: SQLite, then PostgreSQL (tests/db_urls.py)."""
    engine = db.open_migrated(Path("/nonexistent"), database_url)
    yield engine
    engine.dispose()


def test_local_and_remote_uris() -> None:
    assert is_local_uri("qemu:///system") and is_local_uri("test:///default")
    assert is_local_uri("qemu+unix:///system?socket=/run/x.sock")
    assert not is_local_uri("qemu+ssh://root@hv2/system")
    assert not is_local_uri("qemu+tls://hv3.example.org/system")


def test_the_first_local_uri_is_local_and_the_others_get_digests(database: SqlEngine) -> None:
    store = HostStore(database)
    first = store.ensure("qemu:///system")
    assert first == HostRecord("local", "qemu:///system", "local")
    other_local = store.ensure("test:///default")
    assert other_local == HostRecord(
        digest_id("test:///default"), "test:///default", other_local.id
    )
    remote = store.ensure("qemu+ssh://root@hv2/system")
    assert remote == HostRecord(digest_id("qemu+ssh://root@hv2/system"), remote.uri, "hv2")
    # Asking again, or from another store on the same database, is the same host.
    assert store.ensure("qemu:///system") == first
    assert HostStore(database).ensure("qemu+ssh://root@hv2/system") == remote
    assert store.get("local") == first and store.get(remote.id) == remote
    assert store.get("h-nosuch") is None
    assert store.all() == [first, other_local, remote]


def test_names_stay_unique(database: SqlEngine) -> None:
    store = HostStore(database)
    system = store.ensure("qemu+ssh://hv2/system")
    session = store.ensure("qemu+ssh://hv2/session")
    assert system.name == "hv2"
    assert session.name == session.id == digest_id("qemu+ssh://hv2/session")


def test_an_id_taken_by_another_uri_gets_more_digits(database: SqlEngine) -> None:
    uri = "qemu+tls://hv3/system"
    with Session(database) as session, session.begin():
        # As if another URI's digest had begun with the same 8 hex digits.
        session.add(
            HostRow(
                id=digest_id(uri),
                uri="qemu+tls://hv9/system",
                name="hv9",
                created_at=datetime.now(UTC),
            )
        )
    assert HostStore(database).ensure(uri).id == digest_id(uri, 12)


def test_hosts_met_at_once_by_two_threads_are_one(database: SqlEngine) -> None:
    barrier = threading.Barrier(4)
    seen: list[HostRecord] = []

    def meet() -> None:
        barrier.wait()
        seen.append(HostStore(database).ensure("qemu+ssh://hv4/system"))

    workers = [threading.Thread(target=meet) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert len(seen) == 4 and len(set(seen)) == 1
    assert HostStore(database).all() == seen[:1]


def test_a_host_needs_a_uri(database: SqlEngine) -> None:
    with pytest.raises(InvalidInput, match="needs a libvirt URI"):
        HostStore(database).ensure(" ")


def test_the_engine_uses_the_configured_database(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VIRTDECK_DATABASE_URL, when set, is the database; the data dir's SQLite file is not made."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("VIRTDECK_DATABASE_URL", database_url)
    settings = Settings.from_env(uri="test:///default", data_dir=data_dir)
    assert settings.database_url == database_url
    assert database_url not in repr(settings)  # it may hold a password
    ctx = HostContext(settings)
    try:
        assert ctx.host_id == "local"
        assert HostStore(ctx.database()).all() == [HostRecord("local", "test:///default", "local")]
        assert str(ctx.database().url.database) in database_url
    finally:
        ctx.close()
    assert not (data_dir / "virtdeck.db").exists()
