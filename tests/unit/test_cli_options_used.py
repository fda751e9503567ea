"""Options that no test used to pass, each passed now and its effect checked.

The CLI coverage check once searched test text, so ``vm list -a`` counted
because a hostname was "-a", ``operation list -n`` because qemu-img has an
``-n``, ``--disk-only`` because an error message names it, and ``vm edit
--file`` because a test file mentions it. These run them for real, on
libvirt's test driver, through tests/unit/conftest.py's ``test_driver_cli``;
``--disk-only`` needs a real host (the test driver refuses the flag), so it is
in tests/integration/test_cli_options_used.py.

The later ones run what a whole-suite run found no test running at all: the
--json of the live-change, device, spec, apply, events, screenshot and
operation commands, --live and --config where the test driver carries them
out, and the hidden ``op show`` and ``vm snapshot-revert``. The test driver
cannot hot-plug a device (no virDomainAttachDeviceFlags) nor clone a VM, so
``--live`` of the disk and NIC commands and ``vm clone --json`` are run
against the real libvirtd, in tests/integration/test_cli_options_used.py.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import libvirt
import pytest
import yaml
from tests.unit.conftest import CliRun
from tests.unit.test_snapshots_engine import domain_xml

from virtdeck.host.screenshot import png_size

TEST_URI = "test:///default"


def _vm_of_the_test(xml_of: Callable[[str], str], start: bool) -> Iterator[str]:
    """A VM of the test's own, defined from ``xml_of(name)``; gone again afterwards."""
    name = f"optused-{uuid.uuid4().hex[:6]}"
    conn = libvirt.open(TEST_URI)
    dom = conn.defineXML(xml_of(name))
    if start:
        dom.create()
    yield name
    for found in conn.listAllDomains(0):
        if found.name() == name or found.UUIDString() == dom.UUIDString():
            if found.isActive():
                found.destroy()
            found.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    conn.close()


@pytest.fixture
def stopped_vm() -> Iterator[str]:
    """A shut-off VM of the test's own beside the driver's running 'test'."""
    yield from _vm_of_the_test(domain_xml, start=False)


def _one_of_two_vcpus(name: str) -> str:
    return domain_xml(name).replace("<vcpu>1</vcpu>", "<vcpu current='1'>2</vcpu>")


@pytest.fixture
def running_vm() -> Iterator[str]:
    """A running VM of the test's own: 1 of at most 2 vCPUs, 128 MiB, a qcow2 disk."""
    yield from _vm_of_the_test(_one_of_two_vcpus, start=True)


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


# -- what a whole-suite run found no test running --------------------------------


@pytest.fixture
def driver() -> Iterator[libvirt.virConnect]:
    """A connection of the test's own, to see what the CLI changed."""
    conn = libvirt.open(TEST_URI)
    yield conn
    conn.close()


def _json(result: object) -> Any:
    return json.loads(_ok(result))


def _definition(conn: libvirt.virConnect, name: str) -> ET.Element:
    """The VM's persistent definition (what it starts with next)."""
    return ET.fromstring(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def _running_xml(conn: libvirt.virConnect, name: str) -> ET.Element:
    return ET.fromstring(conn.lookupByName(name).XMLDesc(0))


def _macs(domain: ET.Element) -> list[str]:
    return [mac.get("address", "") for mac in domain.iterfind("devices/interface/mac")]


def _disk_files(domain: ET.Element) -> list[str]:
    return [src.get("file", "") for src in domain.iterfind("devices/disk/source")]


def _setting_and_scope(change: dict[str, Any]) -> tuple[object, ...]:
    return change["setting"], change["value"], change["live"], change["config"]


def test_set_cpus_live_hot_adds_and_leaves_the_definition(
    test_driver_cli: CliRun, running_vm: str, driver: libvirt.virConnect
) -> None:
    change = _json(test_driver_cli("vm", "set-cpus", running_vm, "2", "--live", "--json"))
    assert change == {
        "name": running_vm,
        "setting": "vcpus",
        "value": 2,
        "live": True,
        "config": False,
        "notes": [],
    }
    dom = driver.lookupByName(running_vm)
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 1


def test_set_memory_config_changes_the_definition_only(
    test_driver_cli: CliRun, running_vm: str, driver: libvirt.virConnect
) -> None:
    change = _json(test_driver_cli("vm", "set-memory", running_vm, "64M", "--config", "--json"))
    assert change["name"] == running_vm
    assert _setting_and_scope(change) == ("memory", 64 * 1024, False, True)
    assert driver.lookupByName(running_vm).info()[2] == 128 * 1024  # the guest keeps its 128 MiB
    assert _definition(driver, running_vm).findtext("currentMemory") == str(64 * 1024)


def test_maximums_of_a_stopped_vm_as_json_and_as_a_sentence(
    test_driver_cli: CliRun, stopped_vm: str, driver: libvirt.virConnect
) -> None:
    cpus = _json(test_driver_cli("vm", "set-max-cpus", stopped_vm, "4", "--json"))
    assert _setting_and_scope(cpus) == ("max_vcpus", 4, False, True)
    dom = driver.lookupByName(stopped_vm)
    maximum = libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM
    assert dom.vcpusFlags(maximum) == 4

    memory = _json(test_driver_cli("vm", "set-max-memory", stopped_vm, "512M", "--json"))
    assert _setting_and_scope(memory) == ("max_memory", 512 * 1024, False, True)
    assert dom.maxMemory() == 512 * 1024
    said = _ok(test_driver_cli("vm", "set-max-memory", stopped_vm, "256M"))
    assert said == f"VM {stopped_vm}: maximum memory 256 MiB from its next start\n"
    assert dom.maxMemory() == 256 * 1024


def test_spec_json_is_the_yaml_spec(test_driver_cli: CliRun, stopped_vm: str) -> None:
    # Sizes as the same exact strings in both: a bare number in a spec means
    # MiB, so JSON that said bytes could not be applied back (the API takes
    # and gives specs in this form too).
    as_yaml = yaml.safe_load(_ok(test_driver_cli("vm", "spec", stopped_vm)))
    as_json = _json(test_driver_cli("vm", "spec", stopped_vm, "--json"))
    assert (as_yaml["memory"], as_yaml["max_memory"]) == ("128M", "128M")
    assert as_json == as_yaml
    assert as_json["name"] == stopped_vm and as_json["running"] is False
    assert as_json["import_disk"] == f"/var/lib/libvirt/images/{stopped_vm}-vda.qcow2"


def test_apply_json_reports_the_step_it_made(
    test_driver_cli: CliRun, stopped_vm: str, driver: libvirt.virConnect, tmp_path: Path
) -> None:
    spec = _ok(test_driver_cli("vm", "spec", stopped_vm))
    wanted = re.sub(r"(?m)^memory: 128M$", "memory: 96M", spec)
    assert wanted != spec
    spec_file = tmp_path / "vm.yaml"
    spec_file.write_text(wanted)
    result = _json(test_driver_cli("apply", "-f", str(spec_file), "--json"))
    assert result == {
        "name": stopped_vm,
        "created": False,
        "steps": [{"key": "memory", "current": "128 MiB", "wanted": "96 MiB", "how": "config"}],
        "notes": [],
        "dry_run": False,
        "state": "shut off",
    }
    assert _definition(driver, stopped_vm).findtext("currentMemory") == str(96 * 1024)
    again = _json(test_driver_cli("apply", "-f", str(spec_file), "--json"))
    assert again["steps"] == [] and again["state"] == "shut off"


def test_operation_show_json_and_op_show_describe_a_create(
    test_driver_cli: CliRun, driver: libvirt.virConnect, tmp_path: Path
) -> None:
    name = f"optshow-{uuid.uuid4().hex[:6]}"
    image = tmp_path / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    _ok(test_driver_cli("vm", "create", name, "--import-disk", str(image)))
    try:
        [newest] = _json(test_driver_cli("operation", "list", "-n", "1", "--json"))
        op_id = str(newest["id"])
        shown = _json(test_driver_cli("operation", "show", op_id, "--json"))
        assert (shown["id"], shown["kind"], shown["target"]) == (newest["id"], "create", name)
        assert (shown["state"], shown["progress"], shown["error"]) == ("succeeded", 100, "")
        assert shown["result"]["uuid"] == driver.lookupByName(name).UUIDString()
        assert shown["result"]["disks"][0]["path"] == str(image)

        fields = dict(
            line.split(None, 1) for line in _ok(test_driver_cli("op", "show", op_id)).splitlines()
        )
        assert (fields["ID"], fields["Kind"], fields["Target"]) == (op_id, "create", name)
        assert (fields["State"], fields["Step"], fields["Error"]) == (
            "succeeded",
            "done (100%)",
            "-",
        )
    finally:
        driver.lookupByName(name).undefine()


def test_snapshot_revert_alias_brings_back_the_running_vm_and_its_definition(
    test_driver_cli: CliRun, running_vm: str, driver: libvirt.virConnect
) -> None:
    _ok(test_driver_cli("vm", "snapshot", "create", running_vm, "before"))
    dom = driver.lookupByName(running_vm)
    dom.setMemoryFlags(64 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    dom.destroy()
    reverted = _json(test_driver_cli("vm", "snapshot-revert", running_vm, "before", "--json"))
    assert reverted == {"vm": running_vm, "snapshot": "before", "state": "running"}
    assert dom.isActive()
    assert _definition(driver, running_vm).findtext("currentMemory") == str(128 * 1024)
    assert dom.snapshotCurrent().getName() == "before"


def test_events_json_prints_one_object_per_event_of_the_named_vm(
    test_driver_cli: CliRun, running_vm: str, driver: libvirt.virConnect
) -> None:
    # Both VMs are paused and resumed over and over while the command watches one.
    doms = [driver.lookupByName(running_vm), driver.lookupByName("test")]
    done = threading.Event()

    def pause_and_resume() -> None:
        while not done.is_set():
            for dom in doms:
                dom.suspend()
            time.sleep(0.1)
            for dom in doms:
                dom.resume()
            time.sleep(0.1)

    churn = threading.Thread(target=pause_and_resume, daemon=True)
    churn.start()
    try:
        result = test_driver_cli("vm", "events", running_vm, "--timeout", "1.5", "--json")
    finally:
        done.set()
        churn.join()
    _ok(result)
    # stdout only: the line saying what it watches goes to stderr.
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(events) >= 2, result.stdout
    assert {e["vm"] for e in events} == {running_vm}
    pairs = {(e["event"], e["detail"]) for e in events}
    assert pairs <= {("paused", "paused"), ("resumed", "unpaused")}
    kinds = [e["event"] for e in events]
    assert all(a != b for a, b in itertools.pairwise(kinds)), kinds  # as they happened
    times = [datetime.fromisoformat(e["time"]) for e in events]
    assert times == sorted(times)


def test_screenshot_json_describes_the_png_it_wrote(
    test_driver_cli: CliRun, tmp_path: Path
) -> None:
    target = tmp_path / "test.png"
    shot = _json(test_driver_cli("vm", "screenshot", "test", str(target), "--json"))
    png = target.read_bytes()
    width, height = png_size(png)
    assert shot == {
        "name": "test",
        "path": str(target),
        "width": width,
        "height": height,
        "bytes": len(png),
    }
    assert width > 0 and height > 0


def test_disk_add_path_and_remove_as_json_change_the_definition(
    test_driver_cli: CliRun, stopped_vm: str, driver: libvirt.virConnect, tmp_path: Path
) -> None:
    image = tmp_path / "extra.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    added = _json(test_driver_cli("vm", "disk", "add", stopped_vm, "--path", str(image), "--json"))
    assert added == {
        "name": stopped_vm,
        "device": "disk vdb",
        "action": "added",
        "live": False,
        "config": True,
        "created_file": None,
        "deleted_file": None,
        "kept_file": None,
        "kept_reason": None,
    }
    assert str(image) in _disk_files(_definition(driver, stopped_vm))

    removed = _json(test_driver_cli("vm", "disk", "remove", stopped_vm, "vdb", "--json"))
    assert (removed["device"], removed["action"]) == ("disk vdb", "removed")
    assert (removed["live"], removed["config"], removed["deleted_file"]) == (False, True, None)
    assert str(image) not in _disk_files(_definition(driver, stopped_vm))
    assert image.is_file()  # not made by virtdeck, so not deleted


def test_nic_add_and_remove_config_leave_the_running_guest_alone(
    test_driver_cli: CliRun, running_vm: str, driver: libvirt.virConnect
) -> None:
    mac = "52:54:00:12:00:01"
    added = _json(
        test_driver_cli(
            *("vm", "nic", "add", running_vm, "--network", "default"),
            *("--mac", mac, "--config", "--json"),
        )
    )
    assert added["name"] == running_vm
    assert (added["device"], added["action"]) == (f"nic {mac}", "added")
    assert (added["live"], added["config"]) == (False, True)
    assert mac in _macs(_definition(driver, running_vm))
    assert mac not in _macs(_running_xml(driver, running_vm))

    removed = _json(test_driver_cli("vm", "nic", "remove", running_vm, mac, "--config", "--json"))
    assert (removed["device"], removed["action"]) == (f"nic {mac}", "removed")
    assert (removed["live"], removed["config"]) == (False, True)
    assert mac not in _macs(_definition(driver, running_vm))
