"""``vm create`` with a cloud-init seed, and installing from an ISO, proven by the guest."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path

import libvirt
import pycdlib
import pytest

from tests.cli_runner import run_virtdeck
from tests.integration.conftest import (
    APPLIANCE,
    IsolatedNet,
    appliance_request,
    env_for_cli,
    made_file,
)
from tests.integration.guest import wait_for, wait_ready
from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.errors import VirtdeckError
from virtdeck.host.console import SerialConsole
from virtdeck.model import Domain
from virtdeck.settings import Settings

KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq7dsJhRkqz1Yt9uLkD9l0G2kG4kYc2Wl3h8xZtqv1n"
    " tester@virtdeck"
)
BOOT = 240.0  # generous: other sessions boot TCG guests on the same 2 cores


def _on_disk(vm_name: str, conn: libvirt.virConnect) -> Domain:
    return Domain.from_xml(conn.lookupByName(vm_name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def test_seed_sets_hostname_and_runs_user_data(
    engine: Engine, conn: libvirt.virConnect, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    script = "#!/bin/sh\necho virtdeck-test user-data ran as $(id -u) > /dev/console\n"
    request = appliance_request(
        vm_name, test_net, hostname="seeded-h", ssh_keys=[KEY], user_data=script
    )
    vm = engine.create_vm(request)
    seed = made_file(pool_dir, vm_name, "seed")
    # Private: it holds the user-data (and virtdeck made it, so only root reads it).
    assert stat.S_IMODE(seed.stat().st_mode) == 0o600
    cd = {d.target: d for d in vm.disks}["sda"]
    assert (cd.device, cd.bus, cd.path, cd.created_by_virtdeck) == (
        "cdrom",
        "scsi",
        str(seed),
        True,
    )

    seen = wait_for(engine, vm_name, lambda s: s.word == "seed", timeout=BOOT)
    assert seen.fields["device"] == "sr0"
    assert seen.fields["instance-id"] == f"iid-{vm.uuid}"
    assert seen.fields["local-hostname"] == "seeded-h"
    assert wait_ready(engine, vm_name, timeout=BOOT).fields["hostname"] == "seeded-h"
    assert "virtdeck-test user-data ran as 0" in engine.read_log(vm_name)

    engine.stop_vm(vm_name, force=True)
    result = engine.delete_vm(vm_name)
    assert str(seed) in result.removed_disks and not seed.exists()
    assert list(pool_dir.glob(f"{vm_name}*")) == []


def test_cli_ssh_key_gives_cloud_config_and_hostname_defaults_to_name(
    settings: Settings, engine: Engine, test_net: IsolatedNet, vm_name: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "id_ed25519.pub"
    key_file.write_text(KEY + "\n")
    created = run_virtdeck(
        *("vm", "create", vm_name),
        *("--image", str(APPLIANCE), "--memory", "256M", "--network", test_net.name),
        *("--graphics", "none", "--ssh-key", str(key_file), "--start"),
        env=env_for_cli(settings),
        timeout=180,
    )
    assert created.returncode == 0, created.stderr
    seen = wait_for(engine, vm_name, lambda s: s.word == "seed", timeout=BOOT)
    assert seen.fields["local-hostname"] == vm_name
    assert wait_ready(engine, vm_name, timeout=BOOT).fields["hostname"] == vm_name
    # What cloud-init would read, read by the guest from its seed CD.
    with SerialConsole(engine.host, vm_name) as console:
        console.send("\n")
        console.expect(r"appliance# ", timeout=30)
        console.send(
            "mount -t iso9660 -o ro /dev/sr0 /mnt/seed && "
            "echo ud=$(head -n 1 /mnt/seed/user-data) "
            "keys=$(grep -c ssh-ed25519 /mnt/seed/user-data /mnt/seed/meta-data | tr '\\n' ,); "
            "umount /mnt/seed\n"
        )
        match = console.expect(r"ud=(\S+) keys=(\S+)", timeout=30)
    assert match.group(1) == "#cloud-config"
    assert match.group(2) == "/mnt/seed/user-data:1,/mnt/seed/meta-data:1,"


def test_failed_create_with_seed_leaves_nothing_behind(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    request = appliance_request(
        vm_name, test_net, hostname="h1", networks=["vdtest-no-such-network"]
    )
    with pytest.raises(VirtdeckError):
        engine.create_vm(request)
    assert vm_name not in {v.name for v in engine.list_vms()}
    assert list(pool_dir.glob(f"{vm_name}*")) == []


# -- installing from an ISO ----------------------------------------------------
PART_OFFSET = 2**20  # the appliance's one FAT partition starts at 1 MiB


def _appliance_raw(dest: Path, boot_source: str) -> None:
    """The appliance as a raw disk whose kernel command line says where it booted from."""
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(APPLIANCE), str(dest)], check=True
    )
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    image = f"{dest}@@{PART_OFFSET}"
    cfg = subprocess.run(
        ["mtype", "-i", image, "::/syslinux.cfg"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert "  APPEND " in cfg, cfg
    patched = dest.with_suffix(".cfg")
    patched.write_text(cfg.replace("  APPEND ", f"  APPEND virtdeck_test_boot={boot_source} "))
    subprocess.run(
        ["mcopy", "-o", "-i", image, str(patched), "::/syslinux.cfg"], env=env, check=True
    )
    patched.unlink()


def _make_installer_iso(path: Path, work: Path) -> None:
    """A bootable CD: the appliance disk as an El Torito hard-disk-emulation image.

    Debian's isolinux.bin is not installed here; SeaBIOS emulating a hard
    disk from the CD boots the appliance's own MBR and SYSLINUX instead. It
    takes the disk's geometry from the partition's end CHS, so that is
    rewritten for 64 heads x 32 sectors, which ends the 64 MiB disk on a
    cylinder boundary (sfdisk wrote 255 x 63 values that do not).
    """
    raw = work / "cd-boot.img"
    _appliance_raw(raw, "cdrom")
    size = raw.stat().st_size
    assert size == 64 * 2**20
    with open(raw, "r+b") as fh:
        # Partition 1's CHS fields (head, sector | cylinder high bits, cylinder):
        # LBA 2048 is C1 H0 S1 and LBA 131071 is C63 H63 S32 in that geometry.
        fh.seek(446 + 1)
        fh.write(bytes([0, 1, 1]))
        fh.seek(446 + 5)
        fh.write(bytes([63, 32, 63]))
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09", vol_ident="INSTALLER")
    with open(raw, "rb") as fh:
        iso.add_fp(fh, size, "/BOOT.IMG;1", rr_name="boot.img")
        iso.add_eltorito("/BOOT.IMG;1", bootcatfile="/BOOT.CAT;1", media_name="hdemul")
        iso.add_fp(io.BytesIO(b"a test installer\n"), 17, "/README.;1", rr_name="README")
        iso.write(str(path))
    iso.close()
    os.chmod(path, 0o644)
    raw.unlink()


def _boot_source(engine: Engine, name: str) -> str:
    """Where the running guest's kernel was loaded from, asked in its root shell."""
    wait_ready(engine, name, timeout=BOOT)
    with SerialConsole(engine.host, name) as console:
        console.send("\n")
        console.expect(r"appliance# ", timeout=30)
        console.send("cat /proc/cmdline\n")
        return console.expect(r"virtdeck_test_boot=(\w+)", timeout=30).group(1)


def test_install_from_iso_boots_cd_then_disk(
    engine: Engine,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    pool_dir: Path,
    tmp_path: Path,
) -> None:
    installer = pool_dir / f"{vm_name}-installer.iso"
    _make_installer_iso(installer, tmp_path)
    vm = engine.create_vm(
        VmCreate(
            name=vm_name,
            iso=str(installer),
            disk_size_bytes=256 * 2**20,
            memory_bytes=256 * 2**20,
            networks=[test_net.name],
            start=True,
        )
    )
    disk = made_file(pool_dir, vm_name, "vda")
    assert vm.graphics and vm.graphics[0].startswith("vnc 127.0.0.1:")
    defined = _on_disk(vm_name, conn)
    layout = [(d.target, d.device, d.bus, d.path, d.boot_order) for d in defined.disks]
    assert layout == [
        ("vda", "disk", "virtio", str(disk), 1),
        ("sda", "cdrom", "sata", str(installer), 2),
    ]

    # First boot: the empty disk has no boot signature, so SeaBIOS goes on to the CD.
    assert _boot_source(engine, vm_name) == "cdrom"

    # "Install": put a bootable system on the disk while the VM is off.
    engine.stop_vm(vm_name, force=True)
    system = tmp_path / "system.img"
    _appliance_raw(system, "disk")
    subprocess.run(
        ["qemu-img", "convert", "-n", "-f", "raw", "-O", "qcow2", str(system), str(disk)],
        check=True,
    )

    # Same definition, CD still in: the disk now comes first.
    assert [d.path for d in _on_disk(vm_name, conn).disks] == [str(disk), str(installer)]
    engine.start_vm(vm_name)
    assert _boot_source(engine, vm_name) == "disk"

    engine.stop_vm(vm_name, force=True)
    result = engine.delete_vm(vm_name)
    assert result.removed_disks == [str(disk)]
    assert str(installer) in result.kept_disks and installer.is_file()
