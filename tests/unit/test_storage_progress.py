"""qemu-img's progress output, read while it copies (no libvirt needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from virtdeck.errors import OperationFailed
from virtdeck.host import storage


def test_a_copy_reports_rising_percentages_up_to_100(tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(base), "64M"], check=True)
    with base.open("r+b") as fh:
        fh.write(b"\x5a" * 8 * 2**20)  # some data, so there is something to copy
    seen: list[int] = []
    copy = ("convert", "-f", "raw", "-O", "qcow2", str(base), str(tmp_path / "copy.qcow2"))
    storage._qemu_img_with_progress("copy base", seen.append, *copy)
    assert seen[-1] == 100 and seen == sorted(set(seen)), seen
    assert (tmp_path / "copy.qcow2").exists()


def test_a_failed_copy_says_why_in_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "missing.raw"
    copy = ("convert", "-f", "raw", "-O", "qcow2", str(missing), str(tmp_path / "copy.qcow2"))
    with pytest.raises(OperationFailed, match=r"cannot copy it: qemu-img: .*No such file"):
        storage._qemu_img_with_progress("copy it", lambda _pct: None, *copy)


def test_a_failing_listener_stops_the_copy(tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(base), "16M"], check=True)

    def interrupted(_pct: int) -> None:
        raise KeyboardInterrupt

    copy = ("convert", "-f", "raw", "-O", "qcow2", str(base), str(tmp_path / "copy.qcow2"))
    with pytest.raises(KeyboardInterrupt):
        storage._qemu_img_with_progress("copy base", interrupted, *copy)
    # Nothing of qemu-img is left running (it was killed and collected).
    left = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert left.stdout == ""
