"""The appliance's NoCloud seed, a read-only images directory, and reconnecting."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pycdlib
import pytest

from tests.integration.conftest import PREFIX, IsolatedNet, appliance_request
from tests.integration.guest import wait_for, wait_ready
from virtdeck.engine import Engine
from virtdeck.errors import InvalidInput
from virtdeck.settings import Settings


def make_seed_iso(path: Path, meta_data: str, user_data: str) -> None:
    """A NoCloud seed: an ISO 9660 volume labelled cidata (Rock Ridge names)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09", joliet=3, vol_ident="cidata")
    for iso_name, name, text in (
        ("/METADATA.;1", "meta-data", meta_data),
        ("/USERDATA.;1", "user-data", user_data),
    ):
        data = text.encode()
        iso.add_fp(io.BytesIO(data), len(data), iso_name, rr_name=name, joliet_path=f"/{name}")
    iso.write(str(path))
    iso.close()
    os.chmod(path, 0o644)


def test_seed_sets_hostname_and_runs_user_data(
    engine: Engine, conn: libvirt.virConnect, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    seed = pool_dir / f"{vm_name}-seed.iso"
    make_seed_iso(
        seed,
        meta_data=f"instance-id: iid-{vm_name}\nlocal-hostname: seeded-host\n",
        user_data="#!/bin/sh\necho virtdeck-appliance user-data ran > /dev/console\n",
    )
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    dom = conn.lookupByName(vm_name)
    config = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    dom.attachDeviceFlags("<controller type='scsi' index='0' model='virtio-scsi'/>", config)
    dom.attachDeviceFlags(
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        f"<source file='{seed}'/><target dev='sda' bus='scsi'/><readonly/></disk>",
        config,
    )
    engine.start_vm(vm_name)
    seen = wait_for(engine, vm_name, lambda s: s.word == "seed")
    assert seen.fields["instance-id"] == f"iid-{vm_name}"
    assert seen.fields["local-hostname"] == "seeded-host"
    ready = wait_ready(engine, vm_name)
    assert ready.fields["hostname"] == "seeded-host"
    assert "virtdeck-appliance user-data ran" in engine.read_log(vm_name)


@pytest.fixture
def readonly_pool(conn: libvirt.virConnect) -> Iterator[str]:
    """A storage pool on a read-only mount (root ignores mode bits, not ro mounts)."""
    path = Path(f"/var/tmp/{PREFIX}ro-{uuid.uuid4().hex[:6]}")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=True)
    name = f"{PREFIX}ro"
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>", 0
    )
    try:
        yield name
    finally:
        pool.destroy()
        subprocess.run(["umount", str(path)], check=False)
        path.rmdir()


def test_readonly_images_dir_is_one_clear_error(
    settings: Settings, test_net: IsolatedNet, readonly_pool: str, vm_name: str
) -> None:
    engine = Engine(settings.model_copy(update={"pool": readonly_pool}))
    try:
        with pytest.raises(InvalidInput, match="read-only"):
            engine.create_vm(appliance_request(vm_name, test_net))
        assert vm_name not in {v.name for v in engine.list_vms()}
    finally:
        engine.close()


def _libvirtd_pid() -> int | None:
    found = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True, check=False)
    pids = found.stdout.split()
    return int(pids[0]) if pids else None


@pytest.mark.disruptive
def test_engine_reconnects_after_libvirtd_restart(
    engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    if Path("/run/systemd/system").is_dir():
        pytest.skip("restarting libvirtd under systemd is left to systemd")
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    # A handle taken before the restart: its virDomain belongs to the dead connection.
    handle = engine.defs.lookup(vm_name)
    assert handle.state() == "shut off"
    before = {v.name for v in engine.list_vms()}
    pid = _libvirtd_pid()
    assert pid is not None, "libvirtd is not running"
    os.kill(pid, signal.SIGTERM)
    try:
        deadline = time.monotonic() + 30
        while _libvirtd_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        # Whatever happened above, leave a running libvirtd behind.
        subprocess.run(["libvirtd", "-d"], check=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            after = {v.name for v in engine.list_vms()}
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert after == before
    # The same handle works on the new connection: it looked the VM up again by UUID.
    assert handle.state() == "shut off"
    assert f"<uuid>{handle.uuid}</uuid>" in handle.xml(inactive=True)
    engine.start_vm(vm_name)
    assert handle.is_active()
