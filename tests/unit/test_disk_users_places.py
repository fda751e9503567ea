"""Which VM uses which file, and where files may come from, on libvirt's test driver.

The test driver keeps domains and pools in memory; the disk files are real
qcow2 images under tmp_path, so backing chains are read from real headers.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from tests.errors_cli import cli_text

from virtdeck.engine import Engine
from virtdeck.errors import Conflict, InvalidInput, opt
from virtdeck.host import disk_users, places


def _qcow2(path: Path, backing: Path | None = None) -> Path:
    args = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing is not None:
        args += ["-b", str(backing), "-F", "qcow2"]
    subprocess.run([*args, str(path), "16M"], check=True)
    return path


_defined: list[tuple[Engine, str]] = []


@pytest.fixture(autouse=True)
def _undefine_afterwards() -> Iterator[None]:
    """Every VM a test here defined goes at its end, whether it passed or not.

    Not left to the test driver dropping its state with the last connection:
    an earlier test's connection may still be waiting for the garbage collector.
    """
    yield
    while _defined:
        engine, name = _defined.pop()
        try:
            dom = engine.host.conn.lookupByName(name)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefine()


def _define(engine: Engine, name: str, disk: Path, readonly: bool = False) -> None:
    _defined.append((engine, name))
    flag = "<readonly/>" if readonly else ""
    xml = f"""<domain type='test'><name>{name}</name><memory>65536</memory>
      <os><type>hvm</type></os><devices><disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='{disk}'/>
      <target dev='vda' bus='virtio'/>{flag}</disk></devices></domain>"""
    engine.host.conn.defineXML(xml)


def test_uses_cover_disks_and_their_backing_chains(engine: Engine, tmp_path: Path) -> None:
    base = _qcow2(tmp_path / "base.qcow2")
    top = _qcow2(tmp_path / "top.qcow2", base)
    _define(engine, "writer", top)
    _define(engine, "reader", base, readonly=True)
    users = disk_users.disk_users(engine.host)
    by_vm = {u.vm: u for u in disk_users.users_of(users, base)}
    assert by_vm["writer"].backing_of == str(top) and not by_vm["writer"].writable
    assert by_vm["reader"].backing_of is None and not by_vm["reader"].writable
    assert disk_users.users_of(users, top)[0].writable
    # A symlink to the file is the same file.
    link = tmp_path / "link.qcow2"
    link.symlink_to(top)
    assert [u.vm for u in disk_users.users_of(users, link)] == ["writer"]
    uuid = engine.defs.lookup("writer").uuid
    assert disk_users.users_of(users, top, except_uuid=uuid) == []


def test_a_used_file_is_refused_and_kept(engine: Engine, tmp_path: Path) -> None:
    base = _qcow2(tmp_path / "base.qcow2")
    _define(engine, "clone", _qcow2(tmp_path / "clone.qcow2", base))
    with pytest.raises(Conflict, match="VM clone reads it as the backing file of") as info:
        disk_users.refuse_if_used(engine.host, base, opt("import_disk"), "use a copy")
    assert info.value.field == "import_disk"
    assert cli_text(info.value).startswith(f"--import-disk '{base}' is in use")
    kept = disk_users.remove_unused(engine.host, [base])
    assert kept.removed == [] and kept.kept == [str(base)] and base.exists()
    assert "VM clone reads it" in kept.reasons[str(base)]


def test_a_vm_cannot_start_over_another_vms_overlay(engine: Engine, tmp_path: Path) -> None:
    base = _qcow2(tmp_path / "base.qcow2")
    _define(engine, "source", base)
    _define(engine, "clone", _qcow2(tmp_path / "clone.qcow2", base))
    dom = engine.defs.lookup("source")
    with pytest.raises(Conflict, match="would corrupt"):
        disk_users.refuse_start_over_others(engine.host, dom.xml(), dom.uuid)
    with pytest.raises(Conflict, match="would corrupt"):
        engine.start_vm("source")
    engine.start_vm("clone")  # the clone only reads the base


def test_a_disk_another_vm_uses_keeps_its_vm_from_being_deleted(
    engine: Engine, tmp_path: Path
) -> None:
    base = _qcow2(tmp_path / "base.qcow2")
    _define(engine, "clone", _qcow2(tmp_path / "clone.qcow2", base))
    with pytest.raises(Conflict, match="delete clone first") as info:
        disk_users.refuse_delete_under_others(engine.host, "source", "no-uuid", [str(base)])
    assert cli_text(info.value).endswith("or delete VM source with --keep-disks to keep its disks")
    assert info.value.fields == ["keep_disks"]


def test_many_users_are_named_in_a_short_sentence(engine: Engine, tmp_path: Path) -> None:
    base = _qcow2(tmp_path / "base.qcow2")
    for index in range(6):
        _define(engine, f"c{index}", _qcow2(tmp_path / f"c{index}.qcow2", base))
    why = disk_users.why_in_use(disk_users.users_of(disk_users.disk_users(engine.host), base))
    assert why.count("reads it") == disk_users.SHOWN_USES and why.endswith("and 3 more VMs")


def test_places_are_pools_and_allowed_dirs_resolved(engine: Engine, tmp_path: Path) -> None:
    inside = tmp_path / "pool" / "disk.qcow2"
    inside.parent.mkdir()
    assert places.check_place(engine.host, inside, "--path", [tmp_path / "pool"]) == inside
    # The test driver's own pool counts, as any active directory pool does.
    assert places.check_place(engine.host, Path("/default-pool/x"), "--path", []) == Path(
        "/default-pool/x"
    )
    escape = tmp_path / "pool" / ".." / "outside.qcow2"
    with pytest.raises(InvalidInput, match="is outside every storage pool") as info:
        places.check_place(engine.host, escape, opt("path"), [tmp_path / "pool"])
    assert info.value.field == "path"
    assert cli_text(info.value).startswith("--path '/")
    assert info.value.message.startswith("'path' '/")
    link = tmp_path / "pool" / "shadow"
    link.symlink_to("/etc/shadow")
    with pytest.raises(InvalidInput, match=r"\(which is '/etc/shadow'\)") as info:
        places.check_place(engine.host, link, "the disk image", [tmp_path / "pool"])
    assert info.value.field is None  # words, not a field


def test_a_size_no_pool_can_hold_is_refused(engine: Engine) -> None:
    places.check_fits(engine.host, "default-pool", 2**30, "--size")
    with pytest.raises(
        InvalidInput, match="more than storage pool 'default-pool' can ever hold"
    ) as info:
        places.check_fits(engine.host, "default-pool", 2**50, opt("size_bytes"))
    assert info.value.field == "size_bytes"
    assert cli_text(info.value).startswith("--size 1 PiB is more than storage pool")
