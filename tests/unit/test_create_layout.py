"""The disks ``vm create`` gives a VM (engine.create_plan.disk_layout), checked by libvirt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest

from virtdeck.engine.create_plan import disk_layout, seed_files
from virtdeck.engine.schemas import VmCreate
from virtdeck.model import Domain, NewDisk, NewDomain, build_domain

UUID = "0d1f3e5a-7b9c-4d2e-8f60-a1b2c3d4e5f6"
POOL = Path("/var/lib/libvirt/images")
ISO = "/srv/iso/debian-12.7.0-amd64-netinst.iso"


def _domain(case: str, req: VmCreate, seeded: bool) -> Domain:
    vda = NewDisk(path=str(POOL / f"{req.name}-vda.qcow2"))
    seed_path = POOL / f"{req.name}-seed.iso" if seeded else None
    return build_domain(
        NewDomain(
            name=req.name,
            domain_type="qemu",
            vcpus=1,
            max_vcpus=1,
            memory_kib=524288,
            max_memory_kib=524288,
            disks=disk_layout(req, vda, seed_path),
            networks=["default"],
            graphics=req.graphics,
            uuid=UUID,
            boot=[],
        )
    )


CASES = {
    "create-iso-install": (VmCreate(name="inst", iso=ISO, disk_size_bytes=2**30), False),
    "create-iso-install-seeded": (
        VmCreate(name="inst2", iso=ISO, disk_size_bytes=2**30, hostname="inst2"),
        True,
    ),
    "create-image-seeded": (
        VmCreate(name="cloud1", image="/base.qcow2", graphics="none", hostname="c1"),
        True,
    ),
}


@pytest.fixture(scope="module")
def conn() -> Iterator[libvirt.virConnect]:
    connection = libvirt.open("test:///default")
    yield connection
    connection.close()


def _kept(conn: libvirt.virConnect, xml: str) -> Domain:
    dom = conn.defineXML(xml)
    try:
        kept = Domain.from_xml(dom.XMLDesc(0))
        dom.create()
        dom.destroy()
    finally:
        dom.undefine()
    return kept


@pytest.mark.parametrize("case", sorted(CASES))
def test_layout_golden_and_accepted_by_libvirt(
    case: str, golden: Callable[[str, str], None], conn: libvirt.virConnect
) -> None:
    req, seeded = CASES[case]
    built = _domain(case, req, seeded)
    golden(case, built.to_xml())
    kept = _kept(conn, built.to_xml())
    assert [(d.target, d.bus, d.device, d.boot_order) for d in kept.disks] == [
        (d.target, d.bus, d.device, d.boot_order) for d in built.disks
    ]
    assert kept.os.boot_devices == []


def test_iso_install_boots_disk_first_then_the_sata_cd() -> None:
    req, _ = CASES["create-iso-install"]
    dom = _domain("x", req, False)
    layout = [(d.target, d.device, d.bus, d.boot_order, d.readonly) for d in dom.disks]
    assert layout == [("vda", "disk", "virtio", 1, False), ("sda", "cdrom", "sata", 2, True)]
    assert dom.disks[1].path == ISO and dom.disks[1].format == "raw"
    assert [g.type for g in dom.graphics] == ["vnc"]
    assert ("scsi", "virtio-scsi") not in [(c.type, c.model) for c in dom.controllers]


def test_seed_is_a_non_bootable_cd_on_virtio_scsi() -> None:
    for case, target in (("create-iso-install-seeded", "sdb"), ("create-image-seeded", "sda")):
        req, _ = CASES[case]
        dom = _domain(case, req, True)
        cd = dom.disks[-1]
        assert (cd.target, cd.device, cd.bus, cd.boot_order) == (target, "cdrom", "scsi", None)
        assert cd.readonly and cd.path == str(POOL / f"{req.name}-seed.iso")
        assert [(c.type, c.model) for c in dom.controllers].count(("scsi", "virtio-scsi")) == 1


def test_seed_files_user_data_as_is_or_cloud_config() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq7dsJhRkqz1Yt9uLkD9l0G2kG4kYc2 a@b"
    script = "#!/bin/sh\necho hi\n"
    meta, user = seed_files(VmCreate(name="vm1", image="/b", user_data=script), "iid-1")
    assert user == script
    assert meta == "instance-id: iid-1\nlocal-hostname: vm1\n"
    meta, user = seed_files(VmCreate(name="vm1", image="/b", ssh_keys=[key + "\n"]), "iid-2")
    assert user.startswith("#cloud-config\nhostname: vm1\nssh_authorized_keys:\n")
    assert key in user and key in meta
    # With both, the key still reaches the guest through meta-data's public-keys.
    meta, user = seed_files(
        VmCreate(name="vm1", image="/b", ssh_keys=[key], user_data=script, hostname="h"), "i"
    )
    assert user == script and key in meta and "local-hostname: h\n" in meta
