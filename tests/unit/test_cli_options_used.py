"""Options that no test used to pass, each passed now and its effect checked.

The CLI coverage check once searched test text, so ``vm list -a`` counted
because a hostname was "-a", ``operation list -n`` because qemu-img has an
``-n``, ``--disk-only`` because an error message names it, and ``vm edit
--file`` because a test file mentions it. These run them for real, on
libvirt's test driver, through tests/unit/conftest.py's ``test_driver_cli``;
``--disk-only`` needs a real host (the test driver refuses the flag), so it is
in tests/integration/test_cli_options_used.py.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from tests.unit.conftest import CliRun
from tests.unit.test_snapshots_engine import domain_xml

TEST_URI = "test:///default"


@pytest.fixture
def stopped_vm() -> Iterator[str]:
    """A shut-off VM of the test's own beside the driver's running 'test'."""
    name = f"optused-{uuid.uuid4().hex[:6]}"
    conn = libvirt.open(TEST_URI)
    dom = conn.defineXML(domain_xml(name))
    yield name
    for found in conn.listAllDomains(0):
        if found.name() == name or found.UUIDString() == dom.UUIDString():
            if found.isActive():
                found.destroy()
            found.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    conn.close()


def _ok(result: object) -> str:
    exit_code = getattr(result, "exit_code", None)
    output = str(getattr(result, "output", ""))
    assert exit_code == 0, (output, getattr(result, "exception", None))
    return output


def test_vm_list_all_lists_shut_off_vms_as_the_plain_list_does(
    test_driver_cli: CliRun, stopped_vm: str
) -> None:
    for flag in ("-a", "--all"):
        listed = json.loads(_ok(test_driver_cli("vm", "list", flag, "--json")))
        states = {vm["name"]: vm["state"] for vm in listed}
        assert states[stopped_vm] == "shut off" and states["test"] == "running"
    plain = _ok(test_driver_cli("vm", "list"))
    assert _ok(test_driver_cli("vm", "list", "-a")) == plain


def test_operation_list_limit_shows_the_newest_operations_only(
    test_driver_cli: CliRun, tmp_path: Path
) -> None:
    names = [f"optop-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in names:
        image = tmp_path / f"{name}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
        _ok(test_driver_cli("vm", "create", name, "--import-disk", str(image)))
    every = json.loads(_ok(test_driver_cli("operation", "list", "--json")))
    assert [op["target"] for op in every] == names[::-1]  # newest first
    newest = json.loads(_ok(test_driver_cli("operation", "list", "-n", "2", "--json")))
    assert [op["id"] for op in newest] == [op["id"] for op in every[:2]]
    one = json.loads(_ok(test_driver_cli("op", "list", "--limit=1", "--json")))
    assert [op["id"] for op in one] == [every[0]["id"]]


def test_vm_edit_file_redefines_from_the_file(
    test_driver_cli: CliRun, stopped_vm: str, tmp_path: Path
) -> None:
    before = _ok(test_driver_cli("vm", "xml", stopped_vm, "--inactive"))
    assert "<memory unit='KiB'>131072</memory>" in before
    edited = tmp_path / "edited.xml"
    edited.write_text(
        before.replace("<memory unit='KiB'>131072</memory>", "<memory>262144</memory>")
    )
    _ok(test_driver_cli("vm", "edit", stopped_vm, "--file", str(edited)))
    after = _ok(test_driver_cli("vm", "xml", stopped_vm, "--inactive"))
    assert "<memory unit='KiB'>262144</memory>" in after
    # The same file again changes nothing; -f is the short form.
    assert "no changes" in _ok(test_driver_cli("vm", "edit", stopped_vm, "-f", str(edited)))
