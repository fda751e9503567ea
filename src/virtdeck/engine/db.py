"""virtdeck's database: where it is, how it opens, how its schema migrates.

It holds only what libvirt has no place for: the hosts it knows by id
(hosts.py), earlier versions of domain definitions (history.py), the record
of long operations (operations.py) and the locks of servers sharing it
(leases.py).
SQLAlchemy and Alembic load when a command first needs the database, never
for a plain 'vm list'.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import DeclarativeBase

from virtdeck.errors import HostUnavailable


class Base(DeclarativeBase):
    pass


def schema() -> MetaData:
    """Every table virtdeck keeps, as the models declare them (what migrations reach)."""
    from . import history, hosts, leases, operations  # noqa: F401, PLC0415 - they fill Base

    return Base.metadata


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets a reader (vm list) run while another command writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_database(url: str) -> SqlEngine:
    engine = create_engine(url)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(url: str) -> None:
    """Bring the database schema to the newest Alembic revision."""
    from alembic import command  # noqa: PLC0415 - only needed at start-up
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


def database_url(data_dir: Path) -> str:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HostUnavailable(
            f"cannot create virtdeck's data dir {data_dir} ({exc.strerror}); "
            "set VIRTDECK_DATA_DIR to a writable directory"
        ) from exc
    return f"sqlite:///{data_dir / 'virtdeck.db'}"


def open_migrated(data_dir: Path) -> SqlEngine:
    """The database under ``data_dir``, created or migrated to the newest schema."""
    url = database_url(data_dir)
    migrate(url)
    return open_database(url)
