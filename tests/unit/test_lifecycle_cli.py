"""The lifecycle and snapshot commands as a user types them, on libvirt's test driver.

Each command runs in its own process, so it sees the test driver's fresh
default state: one running VM called 'test' (with a raw disk).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.test_cli_testdriver import TEST_URI, one_sentence_error, virtdeck


def run(tmp: Path, *args: str) -> str:
    result = virtdeck("-c", TEST_URI, "vm", *args, tmp=tmp)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", ["pause", "suspend"])
def test_pause_and_its_virsh_alias(tmp_path: Path, command: str) -> None:
    assert run(tmp_path, command, "test").strip() == "VM test is paused"


def test_resume_of_a_running_vm_is_one_sentence(tmp_path: Path) -> None:
    line = one_sentence_error(virtdeck("-c", TEST_URI, "vm", "resume", "test", tmp=tmp_path), 3)
    assert "VM test is not paused (running)" in line


def test_reboot_and_reset(tmp_path: Path) -> None:
    assert run(tmp_path, "reboot", "test", "--timeout", "30").strip() == "VM test rebooted"
    assert run(tmp_path, "reboot", "test", "--force").strip() == "VM test reset"


@pytest.mark.parametrize("command", ["delete", "undefine"])
def test_a_running_vm_is_deleted_only_with_force(tmp_path: Path, command: str) -> None:
    line = one_sentence_error(virtdeck("-c", TEST_URI, "vm", command, "test", tmp=tmp_path), 3)
    assert line == (
        "error: VM test is running; stop it first, "
        "or add --force to power it off and delete it ('virtdeck vm stop test')"
    )
    assert run(tmp_path, command, "test", "--force").startswith("Deleted VM test")


def test_autostart(tmp_path: Path) -> None:
    assert run(tmp_path, "autostart", "test", "on").strip() == "VM test: autostart on"
    line = one_sentence_error(
        virtdeck("-c", TEST_URI, "vm", "autostart", "test", "maybe", tmp=tmp_path), 4
    )
    assert "on or off" in line


def test_rename_of_running_vm(tmp_path: Path) -> None:
    for command in ("rename", "domrename"):
        result = virtdeck("-c", TEST_URI, "vm", command, "test", "test2", tmp=tmp_path)
        assert "renames only VMs that are shut off" in one_sentence_error(result, 3)


def test_clone_of_running_vm(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "vm", "clone", "test", "copy", tmp=tmp_path)
    assert "stop it or pause it" in one_sentence_error(result, 3)


def test_snapshot_list_empty_and_virsh_alias(tmp_path: Path) -> None:
    assert run(tmp_path, "snapshot", "list", "test").strip() == "VM test has no snapshots"
    assert json.loads(run(tmp_path, "snapshot-list", "test", "--json")) == []


def test_snapshot_errors_are_one_sentence(tmp_path: Path) -> None:
    def error(code: int, *args: str) -> str:
        return one_sentence_error(virtdeck("-c", TEST_URI, "vm", *args, tmp=tmp_path), code)

    assert "has no snapshots" in error(2, "snapshot", "revert", "test", "nope")
    assert "has no snapshots" in error(2, "snapshot", "delete", "test", "nope")
    assert "snapshot name 'a/b' is not allowed" in error(4, "snapshot", "create", "test", "a/b")
    # The test driver's VM has a raw disk: no internal snapshot, and the way out is named.
    assert "--disk-only" in error(5, "snapshot", "create", "test", "s1")
    assert "no VM named 'tset'" in error(2, "snapshot", "list", "tset")


def test_events_until_timeout(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "vm", "events", "--timeout", "0.5", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "watching lifecycle events of every VM" in result.stderr
    line = one_sentence_error(virtdeck("-c", TEST_URI, "vm", "events", "tset", tmp=tmp_path), 2)
    assert "did you mean test" in line
