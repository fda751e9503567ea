"""Golden files: expected XML kept in the tree, compared after normalising layout.

A missing golden file is written (and the test passes, with a warning) so a
developer can review and commit it; under CI it fails instead, because CI
must compare, never write: a run that writes its own expectations proves
nothing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from lxml import etree

_PARSER = etree.XMLParser(remove_blank_text=True)


def normalise_xml(text: str) -> str:
    """One stable, readable form: whitespace between elements dropped, then indented."""
    root = etree.fromstring(text.encode(), _PARSER)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def check_golden(path: Path, xml: str, *, update: bool, ci: bool) -> None:
    """Compare ``xml`` with the golden file ``path``; write it when asked or missing (not in CI)."""
    actual = normalise_xml(xml)
    if not update and not path.exists():
        if ci:
            pytest.fail(
                f"the golden file {path} is missing; create it with "
                "'pytest tests/unit --update-golden', review it and commit it",
                pytrace=False,
            )
        update = True
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        warnings.warn(f"golden file written: {path}", stacklevel=3)
        return
    expected = normalise_xml(path.read_text(encoding="utf-8"))
    assert actual == expected, f"output differs from {path}; --update-golden rewrites it"
