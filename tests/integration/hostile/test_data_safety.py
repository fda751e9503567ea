"""Hostile cases: nothing lost, nothing reached (issue 7), through the CLI on the real libvirtd.

Each test here failed on the code as it was before these were fixed: a
delete that removed a disk another VM reads, an import that opened one disk
writable from two VMs, a lock file made from a raw name, a path outside
every storage pool read with root's rights, world-readable disks, a network
typo that made a VM anyway, a new disk named like a renamed VM's.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.conftest import (
    APPLIANCE,
    PREFIX,
    SERIAL_LOG_DIR,
    IsolatedNet,
    appliance_request,
    fresh_vm_name,
    virtdeck,
)
from virtdeck.engine import Engine
from virtdeck.engine.operation_record import Resource
from virtdeck.engine.schemas import DiskAdd
from virtdeck.errors import Conflict, InvalidInput
from virtdeck.model import Domain
from virtdeck.settings import Settings

NewName = Callable[[], str]


@pytest.fixture
def new_name(engine: Engine, pool_dir: Path) -> Iterator[NewName]:
    """Fresh VM names; every VM, disk and log that carries one is removed afterwards."""
    made: list[Iterator[str]] = []

    def make() -> str:
        names = fresh_vm_name(engine, pool_dir)
        made.append(names)
        return next(names)

    yield make
    for names in reversed(made):
        next(names, None)


def _stopped_vm(engine: Engine, name: str, net: IsolatedNet) -> str:
    """A stopped VM made by virtdeck; the path of its vda."""
    detail = engine.create_vm(appliance_request(name, net, start=False))
    path = next(d.path for d in detail.disks if d.target == "vda")
    assert path is not None
    return path


def _refused(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    for needle in needles:
        assert needle in line, line
    return line


def _define_with_virsh(conn: libvirt.virConnect, name: str, disk: str) -> libvirt.virDomain:
    """A VM made outside virtdeck (as with virsh define) that uses ``disk``."""
    xml = f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>
      <os><type arch='x86_64'>hvm</type></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>"""
    return conn.defineXML(xml)


# -- data lost ----------------------------------------------------------------------------


def test_deleting_a_linked_clones_source_never_takes_its_backing_file(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName
) -> None:
    source, clone = new_name(), new_name()
    source_disk = _stopped_vm(engine, source, test_net)
    made = virtdeck(settings, "vm", "clone", source, clone, "--linked")
    assert made.returncode == 0, made.stderr
    # The source running again would write under the clone's overlay.
    refused = virtdeck(settings, "vm", "start", source)
    _refused(refused, 3, f"VM {clone} reads it as the backing file of", "would corrupt")

    # Before: the delete removed the clone's backing file. Now it is refused,
    # naming the clone, and --keep-disks is the user's way to go on.
    refused = virtdeck(settings, "vm", "delete", source)
    _refused(refused, 3, f"VM {clone} reads it as the backing file of", "--keep-disks")
    assert source in [v.name for v in engine.list_vms()]
    deleted = virtdeck(settings, "vm", "delete", source, "--keep-disks")
    assert deleted.returncode == 0, deleted.stderr
    assert f"kept disk {source_disk}" in deleted.stdout
    assert Path(source_disk).is_file()
    clone_disk = next(d.path for d in engine.get_vm(clone).disks if d.target == "vda")
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-U", "--output", "json", "-f", "qcow2", str(clone_disk)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["backing-filename"] == source_disk
    # The clone still works as a VM: it starts on its backing chain.
    started = virtdeck(settings, "vm", "start", clone)
    assert started.returncode == 0, started.stderr
    Path(source_disk).unlink()  # the test's own clean-up: the source VM is gone


def test_no_file_a_vm_uses_is_removed_by_delete_or_crash_recovery(
    settings: Settings,
    engine: Engine,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    new_name: NewName,
) -> None:
    owner = new_name()
    disk = _stopped_vm(engine, owner, test_net)
    outsider = _define_with_virsh(conn, f"{PREFIX}virsh-{uuid.uuid4().hex[:6]}", disk)
    try:
        refused = virtdeck(settings, "vm", "delete", owner)
        _refused(refused, 3, f"VM {outsider.name()} writes to it as disk vda")
        assert Path(disk).is_file()
        # The clean-up of a failed or interrupted operation keeps it too, and says why.
        removed, [kept] = engine.ops._remove_unowned([Resource("file", disk)])
        assert removed == [] and kept.startswith(f"{disk} (VM ")
        assert f"VM {owner} writes to it as disk vda" in kept
        assert f"VM {outsider.name()} writes to it as disk vda" in kept
        # A disk removed from the VM that made it stays while the other VM uses it.
        disk_remove = virtdeck(settings, "vm", "disk", "remove", owner, "vda", "--config")
        assert disk_remove.returncode == 0, disk_remove.stderr
        assert f"kept {disk}: VM {outsider.name()} writes to it" in disk_remove.stdout
        assert Path(disk).is_file()
    finally:
        outsider.undefine()
        Path(disk).unlink(missing_ok=True)


def test_a_disk_in_use_is_not_imported_into_a_second_vm(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName
) -> None:
    first, second = new_name(), new_name()
    disk = _stopped_vm(engine, first, test_net)
    refused = virtdeck(settings, "vm", "create", second, "--import-disk", disk)
    _refused(refused, 3, f"is in use: VM {first} writes to it as disk vda", "--image FILE")
    # The appliance base backs the first VM's overlay: writing it would corrupt that VM.
    refused = virtdeck(settings, "vm", "create", second, "--import-disk", str(APPLIANCE))
    line = _refused(refused, 3, "reads it as the backing file of", "--image FILE")
    # Other VMs on the host (the demo VM) may be named first; at most three are.
    assert f"VM {first} reads it as the backing file of {disk}" in line or "more VM" in line
    # Nor is a disk some VM writes a base for a linked clone.
    refused = virtdeck(settings, "vm", "create", second, "--image", disk, "--network", "none")
    _refused(refused, 3, f"is a disk that VM {first} writes to it", "base must never change")
    assert second not in [v.name for v in engine.list_vms()]
    # The same door through disk add.
    third = new_name()
    _stopped_vm(engine, third, test_net)
    with pytest.raises(Conflict, match=f"VM {first} writes to it"):
        engine.add_disk(DiskAdd(name=third, path=disk, config=True))


def test_qemu_itself_cannot_open_one_disk_from_two_vms(
    engine: Engine, conn: libvirt.virConnect, test_net: IsolatedNet, new_name: NewName
) -> None:
    """virtlockd (lock_manager = "lockd", set up by setup.sh) refuses the second QEMU."""
    owner = new_name()
    detail = engine.create_vm(appliance_request(owner, test_net))
    disk = next(d.path for d in detail.disks if d.target == "vda")
    assert disk is not None
    outsider = _define_with_virsh(conn, f"{PREFIX}virsh-{uuid.uuid4().hex[:6]}", disk)
    try:
        with pytest.raises(libvirt.libvirtError, match=r"(?i)lock|busy"):
            outsider.create()
        assert not outsider.isActive()
    finally:
        if outsider.isActive():
            outsider.destroy()
        outsider.undefine()


# -- files reached ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../../../etc/vdt-hostile", "x" * 4096, "a/b", "line\nbreak", ""]
)
def test_a_hostile_name_touches_no_file(settings: Settings, name: str) -> None:
    before = set((settings.data_dir / "locks").glob("*"))
    for args in (["vm", "stop", name], ["vm", "start", name], ["vm", "delete", name]):
        _refused(virtdeck(settings, *args), 4)
    assert not Path("/etc/vdt-hostile.lock").exists()
    assert set((settings.data_dir / "locks").glob("*")) == before


def test_a_name_that_no_vm_has_leaves_no_lock_file(settings: Settings) -> None:
    result = virtdeck(settings, "vm", "stop", f"{PREFIX}nosuch")
    _refused(result, 2, "no VM named")
    assert list((settings.data_dir / "locks").glob("*")) == []


def test_paths_outside_every_pool_are_refused_unread(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName, pool_dir: Path
) -> None:
    name = new_name()
    before = sorted(pool_dir.iterdir())
    for args in (
        ["--import-disk", "/etc/shadow"],
        ["--image", "/etc/shadow", "--full-copy"],
        ["--image", "/etc/shadow"],
        ["--iso", "/etc/shadow", "--disk-size", "1G"],
        # A symlink inside a pool does not lead out of it.
        ["--import-disk", str(_symlink(pool_dir, "/etc/shadow"))],
    ):
        result = virtdeck(settings, "vm", "create", name, *args, "--network", "none")
        _refused(result, 4, "is outside every storage pool", "VIRTDECK_ALLOWED_DIRS")
    (pool_dir / "shadow-link").unlink()
    assert sorted(pool_dir.iterdir()) == before
    other = new_name()
    _stopped_vm(engine, other, test_net)
    with pytest.raises(InvalidInput, match="outside every storage pool"):
        engine.add_disk(DiskAdd(name=other, path="/etc/passwd", config=True))


def _symlink(pool_dir: Path, target: str) -> Path:
    link = pool_dir / "shadow-link"
    link.symlink_to(target)
    return link


def test_disks_virtdeck_makes_are_private(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName
) -> None:
    name, clone = new_name(), new_name()
    detail = engine.create_vm(
        appliance_request(name, test_net, start=False, hostname="private", ssh_keys=[])
    )
    engine.add_disk(DiskAdd(name=name, size_bytes=2**20, config=True))
    engine.clone_vm(name, clone)
    paths = [d.path for vm in (name, clone) for d in engine.get_vm(vm).disks if d.path]
    assert len(paths) >= 4, paths  # vda, the seed, vdb, the clone's copies
    for path in paths + [p for p in [d.path for d in detail.disks] if p]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_disks_made_before_become_private(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName
) -> None:
    name = new_name()
    disk = _stopped_vm(engine, name, test_net)
    os.chmod(disk, 0o644)  # as virtdeck made them before
    (settings.data_dir / "disk-modes-private").unlink(missing_ok=True)
    changed = virtdeck(settings, "vm", "autostart", name)
    assert changed.returncode == 0, changed.stderr
    assert stat.S_IMODE(os.stat(disk).st_mode) == 0o600
    assert f"made private: {disk}" in (settings.data_dir / "disk-modes-private").read_text()


# -- references and names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "code", "says"),
    [
        ("nosuch", 2, "no network named 'nosuch'"),
        ("../../x", 4, "contains a control character or '/'"),
        ("net\nwork", 4, "contains a control character or '/'"),
        ("n" * 5000, 4, "longer than 255 characters"),
    ],
)
def test_create_checks_its_network_before_making_anything(
    settings: Settings,
    engine: Engine,
    new_name: NewName,
    pool_dir: Path,
    network: str,
    code: int,
    says: str,
) -> None:
    name = new_name()
    before = sorted(pool_dir.iterdir())
    result = virtdeck(
        settings, "vm", "create", name, "--image", str(APPLIANCE), "--network", network
    )
    line = _refused(result, code, says)
    assert len(line) < 400  # the 5,000 characters are cut
    assert name not in [v.name for v in engine.list_vms()]
    assert sorted(pool_dir.iterdir()) == before


def test_a_new_vm_never_collides_with_a_renamed_vms_disks(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName
) -> None:
    first, renamed = new_name(), new_name()
    old_disk = _stopped_vm(engine, first, test_net)
    assert virtdeck(settings, "vm", "rename", first, renamed).returncode == 0
    again = virtdeck(
        settings, "vm", "create", first, "--image", str(APPLIANCE), "--network", test_net.name
    )
    assert again.returncode == 0, again.stderr
    new_disk = next(d.path for d in engine.get_vm(first).disks if d.target == "vda")
    assert new_disk != old_disk and Path(old_disk).is_file()
    deleted = virtdeck(settings, "vm", "delete", first)
    assert deleted.returncode == 0, deleted.stderr
    assert Path(old_disk).is_file()
    assert next(d.path for d in engine.get_vm(renamed).disks if d.target == "vda") == old_disk


def test_delete_removes_the_serial_log_and_says_so(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName
) -> None:
    name = new_name()
    detail = engine.create_vm(appliance_request(name, test_net))
    log = Path(str(detail.serial_log))
    assert log.parent == SERIAL_LOG_DIR
    engine.stop_vm(name, force=True)
    assert log.exists()
    deleted = virtdeck(settings, "vm", "delete", name)
    assert deleted.returncode == 0, deleted.stderr
    assert f"removed serial log {log}" in deleted.stdout
    assert not log.exists()


def test_sizes_no_pool_can_hold_are_refused(
    settings: Settings, engine: Engine, test_net: IsolatedNet, new_name: NewName, pool_dir: Path
) -> None:
    name = new_name()
    _stopped_vm(engine, name, test_net)
    before = sorted(pool_dir.iterdir())
    refused = virtdeck(settings, "vm", "disk", "add", name, "--size", "1P", "--config")
    _refused(refused, 4, "--size 1 PiB is more than storage pool", "can ever hold")
    other = new_name()
    refused = virtdeck(
        settings, "vm", "create", other, "--image", str(APPLIANCE), "--disk-size", "1P"
    )
    _refused(refused, 4, "--disk-size 1 PiB is more than storage pool")
    assert sorted(pool_dir.iterdir()) == before
    assert len(Domain.from_xml(engine.vm_xml(name, inactive=True)).disks) == 1
