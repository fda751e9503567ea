"""Service tests: the API over real HTTP on loopback, on SQLite and on PostgreSQL.

``api`` is one server per database (in this process, on libvirt's test
driver) for this package's tests; not for the session, since its connection
keeps the test driver's state, which the unit tests expect fresh. Tests
make their own VMs with names of their own and remove them, so they do not
disturb each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.db_urls import DATABASE_PARAMS, empty_database
from tests.service.live_server import LiveServer, start_live_server
from virtdeck.settings import Settings

TEST_URI = "test:///default"


@pytest.fixture(scope="package", params=DATABASE_PARAMS)
def service_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The server's database: SQLite, then PostgreSQL; each a fresh one for the session."""
    with empty_database(str(request.param), tmp_path_factory.mktemp("api-db")) as url:
        yield url


@pytest.fixture(scope="package")
def api(
    tmp_path_factory: pytest.TempPathFactory, service_database_url: str
) -> Iterator[LiveServer]:
    # A connection held open keeps the test driver's state for the session.
    anchor = libvirt.open(TEST_URI)
    base = tmp_path_factory.getbasetemp()
    data = tmp_path_factory.mktemp("api-data")
    settings = Settings(
        uri=TEST_URI,
        data_dir=data,
        allowed_dirs=[Path(base)],
        database_url=service_database_url,
    )
    server = start_live_server(settings)
    yield server
    server.stop()
    anchor.close()
