"""Disks and NICs on libvirt's test driver (which keeps definitions, not live devices)."""

# The fixtures come from test_live_rules; pytest passes them in by name.
# ruff: noqa: F811

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tests.errors_cli import cli_text
from tests.unit.test_live_rules import definition, vm  # noqa: F401 (fixtures)

from virtdeck.engine import Engine
from virtdeck.engine.schemas import DiskAdd, NicAdd
from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Unsupported
from virtdeck.model import Domain
from virtdeck.model.spec import exact_size, next_disk_target, normalise_mac, set_graphics


def image(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "8M"], check=True)
    return path


def test_disk_add_to_a_stopped_vm_goes_to_its_definition(
    engine: Engine, vm: str, tmp_path: Path
) -> None:
    extra = image(tmp_path, "extra.qcow2")
    change = engine.add_disk(DiskAdd(name=vm, path=str(extra)))
    assert (change.device, change.live, change.config) == ("disk vdb", False, True)
    assert change.created_file is None
    listed = {d.target: d for d in engine.list_disks(vm)}
    assert set(listed) == {"vda", "vdb"}
    vdb = listed["vdb"]
    assert (vdb.path, vdb.format, vdb.bus, vdb.config, vdb.live) == (
        str(extra),
        "qcow2",
        "virtio",
        True,
        False,
    )
    assert not vdb.created_by_virtdeck
    assert [h.action for h in engine.vm_history(vm)][-1] == "disk-add"

    third = engine.add_disk(DiskAdd(name=vm, path=str(image(tmp_path, "x.qcow2")), target="vdk"))
    assert third.device == "disk vdk"

    removed = engine.remove_disk(vm, "vdb")
    assert removed.config and removed.deleted_file is None and removed.kept_file is None
    assert extra.is_file(), "a disk virtdeck did not create is never deleted"
    assert {d.target for d in engine.list_disks(vm)} == {"vda", "vdk"}


def test_disk_add_refusals(engine: Engine, vm: str, tmp_path: Path) -> None:
    extra = image(tmp_path, "extra.qcow2")
    with pytest.raises(InvalidInput) as neither:
        engine.add_disk(DiskAdd(name=vm))
    assert re.search(r"exactly one of --size SIZE .* or --path FILE", cli_text(neither.value))
    assert neither.value.fields == ["size_bytes", "path"]
    with pytest.raises(InvalidInput, match="exactly one"):
        engine.add_disk(DiskAdd(name=vm, path=str(extra), size_bytes=2**20))
    with pytest.raises(InvalidInput, match="not a virtio disk name; use vdb"):
        engine.add_disk(DiskAdd(name=vm, path=str(extra), target="hda"))
    with pytest.raises(Conflict, match="already has a disk vda"):
        engine.add_disk(DiskAdd(name=vm, path=str(extra), target="vda"))
    with pytest.raises(NotFound, match="does not exist"):
        engine.add_disk(DiskAdd(name=vm, path=str(tmp_path / "nope.qcow2")))
    used = engine.list_disks(vm)[0].path
    with pytest.raises(Conflict, match="already uses"):
        engine.add_disk(DiskAdd(name=vm, path=str(used)))
    with pytest.raises(NotFound) as no_disk:
        engine.remove_disk(vm, "vdq")
    assert re.search(r"has no disk vdq.*vm disk list", cli_text(no_disk.value))
    assert no_disk.value.hint == Hint("vm.disk.list", vm=vm)
    # The test driver makes no disk images: a new disk needs a local QEMU host.
    with pytest.raises(Unsupported, match="only on the local host"):
        engine.add_disk(DiskAdd(name=vm, size_bytes=64 * 2**20))
    assert [d.target for d in engine.list_disks(vm)] == ["vda"]


def test_failed_live_attach_leaves_the_definition_alone(
    engine: Engine, vm: str, tmp_path: Path
) -> None:
    engine.start_vm(vm)
    before = engine.defs.inactive_xml(engine.defs.lookup(vm))
    with pytest.raises(Unsupported):  # the test driver cannot hot-plug
        engine.add_disk(DiskAdd(name=vm, path=str(image(tmp_path, "e.qcow2"))))
    assert engine.defs.inactive_xml(engine.defs.lookup(vm)) == before
    # --config alone works on a running VM: from its next start.
    change = engine.add_disk(DiskAdd(name=vm, path=str(image(tmp_path, "f.qcow2")), config=True))
    assert (change.live, change.config) == (False, True)


def test_nic_add_list_remove(engine: Engine, vm: str) -> None:
    added = engine.add_nic(NicAdd(name=vm, network="default"))
    mac = added.device.removeprefix("nic ")
    assert re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", mac)
    chosen = engine.add_nic(
        NicAdd(name=vm, network="default", mac="52:54:00:AA:BB:01", model="e1000e")
    )
    assert chosen.device == "nic 52:54:00:aa:bb:01"
    nics = {n.mac: n for n in engine.list_nics(vm)}
    assert set(nics) == {mac, "52:54:00:aa:bb:01"}
    assert nics["52:54:00:aa:bb:01"].model == "e1000e"
    assert nics[mac].source == "default" and nics[mac].config and not nics[mac].live

    with pytest.raises(Conflict, match="already has a NIC with MAC 52:54:00:aa:bb:01"):
        engine.add_nic(NicAdd(name=vm, network="default", mac="52:54:00:aa:bb:01"))
    engine.remove_nic(vm, "52-54-00-AA-BB-01")
    assert [n.mac for n in engine.list_nics(vm)] == [mac]
    assert [h.action for h in engine.vm_history(vm)][-3:] == ["nic-add", "nic-add", "nic-remove"]


def test_nic_refusals(engine: Engine, vm: str) -> None:
    with pytest.raises(NotFound, match=r"no network named 'nosuch'.*net-list"):
        engine.add_nic(NicAdd(name=vm, network="nosuch"))
    with pytest.raises(InvalidInput, match="not a MAC address"):
        engine.add_nic(NicAdd(name=vm, network="default", mac="52:54:00:zz:00:01"))
    with pytest.raises(InvalidInput, match="multicast"):
        engine.add_nic(NicAdd(name=vm, network="default", mac="01:00:5e:00:00:01"))
    with pytest.raises(InvalidInput, match="use virtio, e1000e"):
        engine.add_nic(NicAdd(name=vm, network="default", model="ne2k"))
    with pytest.raises(NotFound) as no_nic:
        engine.remove_nic(vm, "52:54:00:00:00:09")
    assert re.search(r"no NIC with MAC 52:54:00:00:00:09.*vm nic list", cli_text(no_nic.value))
    assert no_nic.value.hint == Hint("vm.nic.list", vm=vm)
    assert engine.list_nics(vm) == []


def test_helpers() -> None:
    assert [exact_size(n) for n in (2**30, 384 * 2**20, 1536 * 1024, 1000)] == [
        "1G",
        "384M",
        "1536K",
        "1000B",
    ]
    assert next_disk_target({"vda"}) == "vdb"
    assert next_disk_target({"vda", "vdc"}) == "vdb"
    letters = {f"vd{chr(c)}" for c in range(ord("a"), ord("z") + 1)}
    assert next_disk_target(letters) == "vdaa"
    assert normalise_mac(" 52-54-00-0A-0B-0C ") == "52:54:00:0a:0b:0c"
    dom = Domain.from_xml("<domain><devices><video><model type='none'/></video></devices></domain>")
    set_graphics(dom, "vnc")
    assert [(g.type, g.listen) for g in dom.graphics] == [("vnc", "127.0.0.1")]
    assert dom.videos[0].model == "vga"
    set_graphics(dom, "none")
    assert dom.graphics == []
