"""Options and virsh aliases that need several commands on one VM, on the test driver.

Each command runs in this process through Typer's runner. libvirt keeps the
state of ``test:///default`` while any connection to it is open, so an
anchor connection lets a snapshot made by one command be seen by the next,
as it would be on a real host.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest
from tests.cli_runner import invoke_virtdeck
from tests.unit.test_snapshots_engine import domain_xml

TEST_URI = "test:///default"
Run = Callable[..., str]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Run]:
    anchor = libvirt.open(TEST_URI)

    def run(*args: str) -> str:
        result = invoke_virtdeck(
            "-c", TEST_URI, *args, env={"VIRTDECK_DATA_DIR": str(tmp_path / "data")}
        )
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    yield run
    anchor.close()


def test_snapshot_description_info_and_delete(cli: Run) -> None:
    vm = f"clisnap-{uuid.uuid4().hex[:6]}"
    anchor = libvirt.open(TEST_URI)
    anchor.defineXML(domain_xml(vm)).create()  # a qcow2 disk: internal snapshots work
    try:
        snapshot_commands(cli, vm)
    finally:
        anchor.lookupByName(vm).destroy()
        anchor.lookupByName(vm).undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        anchor.close()


def snapshot_commands(cli: Run, vm: str) -> None:
    first, second = (f"s-{uuid.uuid4().hex[:6]}" for _ in range(2))
    made = json.loads(
        cli("vm", "snapshot-create-as", vm, first, "--description", "before upgrade", "--json")
    )
    assert (made["name"], made["description"]) == (first, "before upgrade")
    cli("vm", "snapshot-create", vm, second, "--description", "after upgrade")
    info = json.loads(cli("vm", "snapshot-info", vm, second))
    assert info["description"] == "after upgrade" and info["current"] is True
    # (--metadata-only is tested on the real libvirtd; the test driver refuses it.)
    assert cli("vm", "snapshot", "delete", vm, first).startswith(
        f"Deleted snapshot {first} of VM {vm}"
    )
    cli("vm", "snapshot-delete", vm, second)
    left = [s["name"] for s in json.loads(cli("vm", "snapshot", "list", vm, "--json"))]
    assert first not in left and second not in left


def test_xml_of_the_definition_and_of_the_running_vm(cli: Run) -> None:
    live = cli("vm", "xml", "test")
    assert "<domain type='test' id=" in live
    for command in ("xml", "dumpxml"):
        inactive = cli("vm", command, "test", "--inactive")
        assert inactive.startswith("<domain type='test'>")


def test_virsh_aliases_dominfo_reset_event(cli: Run) -> None:
    assert cli("vm", "dominfo", "test") == cli("vm", "show", "test")
    assert cli("vm", "reset", "test").strip() == "VM test reset"
    watched = cli("vm", "event", "test", "--timeout", "0.5")
    assert watched == "watching lifecycle events of VM test (Ctrl-C stops)\n"


def test_history_show_prints_one_version(cli: Run) -> None:
    cli("vm", "set-cpus", "test", "1", "--config")
    shown = cli("vm", "history", "test", "--show", "1")
    assert shown.startswith("<domain") and "<name>test</name>" in shown


def test_host_check_refresh(cli: Run) -> None:
    report = json.loads(cli("host", "check", "--refresh", "--json"))
    assert report["uri"] == TEST_URI and report["findings"]
