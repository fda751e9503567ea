"""virtdeck's database: where it is, how it opens, how its schema migrates.

It holds only what libvirt has no place for: the hosts it knows by id
(hosts.py), earlier versions of domain definitions (history.py), the record
of long operations (operations.py) and the locks of servers sharing it
(leases.py).
SQLAlchemy and Alembic load when a command first needs the database, never
for a plain 'vm list'.

Two databases, one schema: SQLite (WAL) in the data dir is the embedded
default; PostgreSQL (psycopg 3) when a URL is configured
(``VIRTDECK_DATABASE_URL``), migrated by the same Alembic revisions. Times
are stored in UTC; ``as_utc`` makes what each hands back alike.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

from virtdeck.errors import HostUnavailable, InvalidInput

# The drivers virtdeck is built for; plain postgresql:// means psycopg 3.
_DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}
# pg_advisory_lock's key for migrations ("vdmg"): one server migrates at a time.
_MIGRATE_LOCK = 0x76646D67
# Seconds to wait for a PostgreSQL server before saying it cannot be reached.
_CONNECT_TIMEOUT = "10"


class Base(DeclarativeBase):
    pass


def schema() -> MetaData:
    """Every table virtdeck keeps, as the models declare them (what migrations reach)."""
    from . import (  # noqa: F401, PLC0415 - they fill Base
        audit,
        history,
        hosts,
        leases,
        operations,
        sessions,
        tokens,
        users,
    )

    return Base.metadata


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets a reader (vm list) run while another command writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def as_utc(when: datetime) -> datetime:
    """``when`` as an aware UTC time, whichever database it was read from.

    SQLite hands back the stored UTC time without its zone; PostgreSQL an
    aware time in the session's zone.
    """
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def shown_url(url: str) -> str:
    """``url`` fit for a message or a log: its password, if any, as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a database URL that cannot be read)"


def _checked_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(
            "the database URL in VIRTDECK_DATABASE_URL cannot be read; write it as "
            "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE or sqlite:///PATH"
        ) from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise InvalidInput(
            f"database URLs starting {parsed.drivername}:// are not supported; use "
            "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE or sqlite:///PATH in "
            "VIRTDECK_DATABASE_URL"
        )
    parsed = parsed.set(drivername=driver)
    if is_postgres(parsed) and "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": _CONNECT_TIMEOUT})
    return parsed


def is_postgres(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _sqlalchemy_engine(url: URL, **options: object) -> SqlEngine:
    if is_postgres(url):
        # A server restarted or a connection cut by a firewall: found out
        # before a statement fails on it, not after. The stores are written
        # for READ COMMITTED (a lost race is a key violation, not a
        # serialization failure), whatever the server's default is.
        return create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED", **options)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _unreachable(url: str, exc: DBAPIError) -> HostUnavailable:
    reason = " ".join((str(exc.orig).strip().splitlines() or ["no reason given"])[0].split())
    password = make_url(url).password
    if password:
        reason = reason.replace(str(password), "***")
    return HostUnavailable(
        f"cannot reach the database at {shown_url(url)} ({reason}); check that its "
        "server runs and accepts this user, or correct VIRTDECK_DATABASE_URL"
    )


@contextmanager
def _sqlite_migration_turn(url: URL) -> Iterator[None]:
    """Commands starting at once on one SQLite file migrate it one after another.

    Two upgrades at once would both find a new file empty and both create
    its tables; a lock file beside it (``virtdeck.db.migrate-lock``) makes
    the later one wait and then find the schema current.
    """
    path = url.database
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        yield


def open_database(url: str) -> SqlEngine:
    """An engine on ``url``; nothing is connected until it is used."""
    return _sqlalchemy_engine(_checked_url(url))


def migrate(url: str) -> None:
    """Bring the database schema to the newest Alembic revision.

    On PostgreSQL, servers starting at once take turns (an advisory lock
    held for the whole upgrade); the later ones find the schema current.
    SQLite serializes writers itself.
    """
    from alembic import command  # noqa: PLC0415 - only needed at start-up
    from alembic.config import Config  # noqa: PLC0415

    parsed = _checked_url(url)
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    # Alembic's config is interpolated: a % in a password must be doubled.
    config.set_main_option(
        "sqlalchemy.url", parsed.render_as_string(hide_password=False).replace("%", "%%")
    )
    if not is_postgres(parsed):
        with _sqlite_migration_turn(parsed):
            command.upgrade(config, "head")
        return
    engine = create_engine(parsed, poolclass=NullPool)
    try:
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            raise _unreachable(url, exc) from None
        # The lock is the session's: closing the connection lets it go, also
        # when the upgrade fails half-way (and its transaction rolls back).
        with connection, connection.begin():
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATE_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def database_url(data_dir: Path) -> str:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HostUnavailable(
            f"cannot create virtdeck's data dir {data_dir} ({exc.strerror}); "
            "set VIRTDECK_DATA_DIR to a writable directory"
        ) from exc
    return f"sqlite:///{data_dir / 'virtdeck.db'}"


def open_migrated(data_dir: Path, url: str | None = None) -> SqlEngine:
    """The database at ``url``, else the one under ``data_dir``, migrated to the newest schema."""
    url = url or database_url(data_dir)
    migrate(url)
    return open_database(url)
