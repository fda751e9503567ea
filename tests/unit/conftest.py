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
def test_driver_cli(tmp_path: Path) -> Iterator[CliRun]:
    """``test_driver_cli(*args)``: ``virtdeck -c test:///default ARGS`` in this process.

    A connection held open keeps the test driver's state between commands
    (libvirt drops it with the last connection), so what one command or the
    test itself defines is there for the next, as on a real host.
    """
    anchor = libvirt.open(TEST_URI)

    def run(*args: str) -> Result:
        env = {"VIRTDECK_DATA_DIR": str(tmp_path / "data")}
        return invoke_virtdeck("-c", TEST_URI, *args, env=env)

    yield run
    anchor.close()
