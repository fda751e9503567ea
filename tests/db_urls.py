"""The databases store tests run against: SQLite in a temporary file, and PostgreSQL.

``database_url`` is a fixture parametrized over both. The PostgreSQL one is
a database of its own per test, made on the server VIRTDECK_TEST_DATABASE_URL
names (``bash setup.sh test`` starts one on a unix socket and sets it) and
dropped afterwards, also when the test fails. Without that variable the
PostgreSQL cases skip, and fail under VIRTDECK_REQUIRE_INTEGRATION=1, so a
CI run can never pass by leaving PostgreSQL out. Those cases carry the
marker ``postgres`` (``pytest -m postgres`` runs only them).

Loaded by tests/conftest.py as a plugin.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.conftest import require_or_skip
from virtdeck.engine import db

SERVER_ENV = "VIRTDECK_TEST_DATABASE_URL"
KINDS = ("sqlite", "postgresql")
# The params of a fixture over both databases; the PostgreSQL one is marked.
DATABASE_PARAMS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server; dropped on the way out."""
    server = os.environ.get(SERVER_ENV, "")
    if not server:
        require_or_skip(
            f"no PostgreSQL server for the tests: {SERVER_ENV} is unset "
            "(bash setup.sh test starts one and sets it)"
        )
    base = make_url(server)
    name = f"virtdeck_t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except OperationalError as exc:
            pytest.fail(f"the PostgreSQL server in {SERVER_ENV} does not answer: {exc.orig}")
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # FORCE: a connection the test left open (or a child's) must not keep it.
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def empty_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of ``kind`` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield db.database_url(tmp_path / "db")
    elif kind == "postgresql":
        with fresh_postgres_database() as url:
            yield url
    else:  # pragma: no cover - a typo in a test
        raise ValueError(f"no test database of kind {kind!r}; use one of {KINDS}")


@pytest.fixture(params=DATABASE_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema yet), SQLite and then PostgreSQL."""
    with empty_database(str(request.param), tmp_path) as url:
        yield url
