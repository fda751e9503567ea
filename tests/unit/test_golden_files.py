"""The golden-file check: written when missing on a developer's machine, a failure in CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.golden_files import check_golden

XML = "<domain type='test'><name>g</name>  <memory>1024</memory></domain>"


def test_a_missing_golden_file_fails_under_ci_saying_how_to_create_it(tmp_path: Path) -> None:
    path = tmp_path / "edits" / "case.xml"
    with pytest.raises(pytest.fail.Exception) as failed:
        check_golden(path, XML, update=False, ci=True)
    assert "pytest tests/unit --update-golden" in str(failed.value)
    assert str(path) in str(failed.value)
    assert not path.exists(), "CI compares, it never writes"


def test_a_missing_golden_file_is_written_outside_ci_then_compared(tmp_path: Path) -> None:
    path = tmp_path / "edits" / "case.xml"
    with pytest.warns(UserWarning, match="golden file written"):
        check_golden(path, XML, update=False, ci=False)
    assert path.read_text().startswith('<domain type="test">\n  <name>g</name>')
    check_golden(path, XML.replace("  ", ""), update=False, ci=True)  # layout is not compared
    with pytest.raises(AssertionError, match="--update-golden rewrites it"):
        check_golden(path, XML.replace("1024", "2048"), update=False, ci=True)
