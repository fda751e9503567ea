"""Shared unit-test fixtures: golden files, an engine on the test driver, a disk.

``pytest tests/unit --update-golden`` rewrites every golden file from what
the code produces now; a golden file that is missing is written on first run.
Review the diff of ``tests/unit/golden/`` before committing either.
"""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from virtdeck.engine import Engine
from virtdeck.settings import Settings

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
_PARSER = etree.XMLParser(remove_blank_text=True)


def normalise_xml(text: str) -> str:
    """One stable, readable form: whitespace between elements dropped, then indented."""
    root = etree.fromstring(text.encode(), _PARSER)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden(case, xml)``: compare ``xml`` with ``golden/<case>.xml``."""
    update = bool(request.config.getoption("--update-golden", default=False))

    def check(case: str, xml: str) -> None:
        path = GOLDEN_DIR / f"{case}.xml"
        actual = normalise_xml(xml)
        if update or not path.exists():
            GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            warnings.warn(f"golden file written: {path}", stacklevel=2)
            return
        expected = normalise_xml(path.read_text(encoding="utf-8"))
        assert actual == expected, f"output differs from {path}; --update-golden rewrites it"

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
