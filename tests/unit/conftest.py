"""Shared unit-test fixtures: golden files, an engine on the test driver, a disk.

``pytest tests/unit --update-golden`` rewrites every golden file from what
the code produces now; a golden file that is missing is written on first
run, except under CI (``CI=true``), where a missing golden file fails the
test: CI compares, it never writes. Review the diff of ``tests/unit/golden/``
before committing either.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest
from tests.cli_runner import invoke_virtdeck
from tests.conftest import under_ci
from tests.golden_files import check_golden
from tests.service.live_server import LiveServer, start_live_server
from typer.testing import Result

from virtdeck.engine import Engine
from virtdeck.settings import Settings

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
TEST_URI = "test:///default"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden(case, xml)``: compare ``xml`` with ``golden/<case>.xml``."""
    update = bool(request.config.getoption("--update-golden", default=False))

    def check(case: str, xml: str) -> None:
        check_golden(GOLDEN_DIR / f"{case}.xml", xml, update=update, ci=under_ci())

    return check


@pytest.fixture(autouse=True)
def images_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Unit tests make their images under pytest's temporary directory, and
    the test driver's pools are not real directories: allow that one, for
    the CLI run in a subprocess too (engines built here get it in ``allowed``)."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("VIRTDECK_ALLOWED_DIRS", str(base))
    return base


@pytest.fixture
def engine(tmp_path: Path, images_in_tmp: Path) -> Iterator[Engine]:
    """One in-process engine on libvirt's test driver (its state lives per connection)."""
    eng = Engine(
        Settings(uri="test:///default", data_dir=tmp_path / "data", allowed_dirs=[images_in_tmp])
    )
    yield eng
    eng.close()


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    """A small empty qcow2 image to import."""
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    return path


CliRun = Callable[..., Result]


@pytest.fixture
def test_driver_server(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> Iterator[LiveServer]:
    """An API server on the test driver, for the CLI's remote mode.

    One per test, not per session: the server's connection keeps the test
    driver's state, and other tests count on getting it fresh once their
    own connections close.
    """
    anchor = libvirt.open(TEST_URI)
    base = tmp_path_factory.getbasetemp()
    settings = Settings(uri=TEST_URI, data_dir=tmp_path / "remote-data", allowed_dirs=[base])
    server = start_live_server(settings)
    yield server
    server.stop()
    anchor.close()


@pytest.fixture(params=["local", "remote"])
def test_driver_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CliRun]:
    """``test_driver_cli(*args)``: ``virtdeck ARGS`` on the test driver, in this process.

    Twice: ``local`` runs ``virtdeck -c test:///default ARGS`` on the engine
    in-process; ``remote`` runs ``virtdeck --server URL --token T ARGS``
    through a live API server on loopback (same driver state, since it runs
    in this process too), so every test of this fixture proves the two modes
    give the same output and exit codes.

    A connection held open keeps the test driver's state between commands
    (libvirt drops it with the last connection), so what one command or the
    test itself defines is there for the next, as on a real host.
    """
    anchor = libvirt.open(TEST_URI)
    if request.param == "remote":
        server: LiveServer = request.getfixturevalue("test_driver_server")
        prefix = ("--server", server.url, "--token", server.admin_token)
        env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    else:
        prefix = ("-c", TEST_URI)
        env = {"VIRTDECK_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str) -> Result:
        return invoke_virtdeck(*prefix, *args, env=env)

    yield run
    anchor.close()
