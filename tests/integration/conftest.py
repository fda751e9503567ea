"""Integration fixtures: the real libvirtd, QEMU and the appliance guest.

Everything a test makes is named ``vdtest-*`` and removed afterwards, also
when the test fails: VMs, their disks and serial logs, the isolated network
and the storage pool. Guests sit on an isolated libvirt network (no
``<forward>``), so no guest traffic can leave this machine.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from tests.conftest import require_or_skip
from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.errors import VirtdeckError
from virtdeck.settings import Settings

PREFIX = "vdtest-"
URI = "qemu:///system"
APPLIANCE = (
    Path(os.environ.get("VIRTDECK_APPLIANCE_DIR", "/var/lib/virtdeck/appliance"))
    / "appliance.qcow2"
)
SERIAL_LOG_DIR = Path("/var/log/libvirt/qemu")


@dataclass(frozen=True)
class IsolatedNet:
    name: str
    subnet: ipaddress.IPv4Network


def _sweep(conn: libvirt.virConnect) -> None:
    """Remove leftovers of earlier runs (a killed run cannot clean up)."""
    for dom in conn.listAllDomains(0):
        if dom.name().startswith(PREFIX):
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    for net in conn.listAllNetworks(0):
        if net.name().startswith(PREFIX) and net.isActive():
            net.destroy()
    for pool in conn.listAllStoragePools(0):
        if pool.name().startswith(PREFIX) and pool.isActive():
            pool.destroy()


@contextmanager
def _connection() -> Iterator[libvirt.virConnect]:
    connection = libvirt.open(URI)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="session")
def system() -> Iterator[None]:
    """The prerequisites, checked once; leftovers swept before and after the run."""
    if os.geteuid() != 0:
        require_or_skip("integration tests run as root")
    if not APPLIANCE.is_file():
        require_or_skip(f"the appliance is not built ({APPLIANCE}); run bash setup.sh test")
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as exc:
        require_or_skip(f"libvirtd is not reachable at {URI}: {exc}")
    with _connection() as conn:
        _sweep(conn)
    yield
    # A fresh connection: a test may have restarted libvirtd meanwhile.
    with _connection() as conn:
        _sweep(conn)


@pytest.fixture
def conn(system: None) -> Iterator[libvirt.virConnect]:
    """A connection of the test's own (libvirtd may restart between tests)."""
    connection = libvirt.open(URI)
    yield connection
    try:
        connection.close()
    except libvirt.libvirtError:
        pass


def _free_subnet() -> ipaddress.IPv4Network:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True)
    for third in range(213, 250):
        candidate = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if f"10.213.{third}." not in routes.stdout:
            return candidate
    raise RuntimeError("no free 10.213.x.0/24 subnet for the test network")


@pytest.fixture(scope="session")
def test_net(system: None) -> Iterator[IsolatedNet]:
    """A transient isolated network with DHCP; no route out of the machine."""
    subnet = _free_subnet()
    hosts = list(subnet.hosts())
    name = f"{PREFIX}net"
    xml = f"""<network>
      <name>{name}</name>
      <bridge name='vdtestbr{subnet.network_address.packed[2]}' stp='off'/>
      <ip address='{hosts[0]}' netmask='{subnet.netmask}'>
        <dhcp><range start='{hosts[99]}' end='{hosts[199]}'/></dhcp>
      </ip>
    </network>"""
    with _connection() as conn:
        conn.networkCreateXML(xml)
    try:
        yield IsolatedNet(name=name, subnet=subnet)
    finally:
        with _connection() as conn:
            conn.networkLookupByName(name).destroy()


@pytest.fixture(scope="session")
def pool_dir(system: None) -> Iterator[Path]:
    """A transient directory pool; QEMU's user must be able to reach into it."""
    path = Path(f"/var/tmp/{PREFIX}{uuid.uuid4().hex[:8]}")
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    name = f"{PREFIX}pool"
    xml = f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
    with _connection() as conn:
        conn.storagePoolCreateXML(xml, 0)
    try:
        yield path
    finally:
        with _connection() as conn:
            conn.storagePoolLookupByName(name).destroy()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared by all tests so that the KVM probe runs once per session.
    return tmp_path_factory.mktemp("virtdeck-data")


@pytest.fixture(scope="session")
def settings(pool_dir: Path, data_dir: Path) -> Settings:
    return Settings(
        uri=URI,
        data_dir=data_dir,
        pool=f"{PREFIX}pool",
        images_dir=pool_dir,
        serial_log_dir=SERIAL_LOG_DIR,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = Engine(settings)
    yield eng
    eng.close()


@pytest.fixture
def vm_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    """A fresh VM name; whatever VM, disks and log carry it are removed afterwards."""
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    yield name
    try:
        engine.delete_vm(name)
    except VirtdeckError:
        pass
    for leftover in pool_dir.glob(f"{name}*"):
        leftover.unlink()
    for log in SERIAL_LOG_DIR.glob(f"{name}*"):
        log.unlink()


def appliance_request(name: str, net: IsolatedNet, **overrides: object) -> VmCreate:
    values: dict[str, object] = {
        "name": name,
        "image": str(APPLIANCE),
        "memory_bytes": 256 * 2**20,
        "max_memory_bytes": 384 * 2**20,
        "max_cpus": 3,
        "networks": [net.name],
        "graphics": "none",
        "start": True,
    }
    values.update(overrides)
    return VmCreate.model_validate(values)


def env_for_cli(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "VIRTDECK_CONNECT": settings.uri,
            "VIRTDECK_DATA_DIR": str(settings.data_dir),
            "VIRTDECK_POOL": settings.pool,
            "VIRTDECK_IMAGES_DIR": str(settings.images_dir),
        }
    )
    return env
