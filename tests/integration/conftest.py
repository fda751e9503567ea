"""Integration fixtures: the real libvirtd, QEMU and the appliance guest.

Everything a test session makes is named ``vdt<pid>-*`` (so several sessions
can run side by side) and removed afterwards, also when a test fails: VMs,
their disks and serial logs, the isolated network and the storage pool.
Leftovers of sessions that were killed are swept by the next session.
Guests sit on an isolated libvirt network (no ``<forward>``), so no guest
traffic can leave this machine.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.cli_runner import run_virtdeck, virtdeck_command
from tests.conftest import require_or_skip
from virtdeck.engine import Engine
from virtdeck.engine.schemas import OperationInfo, VmCreate
from virtdeck.errors import VirtdeckError
from virtdeck.settings import Settings

# Names carry the pid of the pytest process that made them.
PREFIX = f"vdt{os.getpid()}-"
_OURS = re.compile(r"^vdt(\d+)-")
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


def _stale(name: str) -> bool:
    """Made by a test session whose process is gone (or by this one)."""
    match = _OURS.match(name)
    if match is None:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _sweep(conn: libvirt.virConnect) -> None:
    """Remove what this session, or a session that was killed, left behind."""
    for dom in conn.listAllDomains(0):
        if _stale(dom.name()):
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    for net in conn.listAllNetworks(0):
        if _stale(net.name()) and net.isActive():
            net.destroy()
    for pool in conn.listAllStoragePools(0):
        if _stale(pool.name()) and pool.isActive():
            pool.destroy()
    for path in Path("/var/tmp").glob("vdt*-*"):
        if _stale(path.name) and path.is_dir() and not os.path.ismount(path):
            shutil.rmtree(path, ignore_errors=True)
    for log in SERIAL_LOG_DIR.glob("vdt*-*"):
        if _stale(log.name):
            log.unlink(missing_ok=True)


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


def _network_xml(name: str, subnet: ipaddress.IPv4Network) -> str:
    hosts = list(subnet.hosts())
    return f"""<network>
      <name>{name}</name>
      <bridge name='vdtbr{os.getpid() % 100000}' stp='off'/>
      <ip address='{hosts[0]}' netmask='{subnet.netmask}'>
        <dhcp><range start='{hosts[99]}' end='{hosts[199]}'/></dhcp>
      </ip>
    </network>"""


@pytest.fixture(scope="session")
def test_net(system: None) -> Iterator[IsolatedNet]:
    """A transient isolated network with DHCP; no route out of the machine."""
    name = f"{PREFIX}net"
    with _connection() as conn:
        for third in range(200, 250):
            subnet = ipaddress.IPv4Network(f"10.213.{third}.0/24")
            try:
                # libvirt refuses a subnet another network (another session) uses.
                conn.networkCreateXML(_network_xml(name, subnet))
                break
            except libvirt.libvirtError:
                continue
        else:
            raise RuntimeError("no free 10.213.x.0/24 subnet for the test network")
    try:
        yield IsolatedNet(name=name, subnet=subnet)
    finally:
        with _connection() as conn:
            conn.networkLookupByName(name).destroy()


@pytest.fixture(scope="session")
def pool_dir(system: None) -> Iterator[Path]:
    """A transient directory pool; QEMU's user must be able to reach into it."""
    path = Path(f"/var/tmp/{PREFIX}{uuid.uuid4().hex[:6]}")
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


def fresh_vm_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    """A fresh VM name; whatever VM, disks and log carry it are removed afterwards."""
    name = f"{PREFIX}{uuid.uuid4().hex[:6]}"
    yield name
    try:
        engine.delete_vm(name, force=True)
    except VirtdeckError:
        pass
    for leftover in pool_dir.glob(f"{name}*"):
        leftover.unlink()
    for log in SERIAL_LOG_DIR.glob(f"{name}*"):
        log.unlink()


@pytest.fixture
def vm_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    yield from fresh_vm_name(engine, pool_dir)


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


def virtdeck(
    settings: Settings,
    *args: str,
    timeout: float = 180,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the virtdeck command in a fresh process, as a user would."""
    return run_virtdeck(*args, env={**env_for_cli(settings), **(env_extra or {})}, timeout=timeout)


def made_file(pool_dir: Path, vm_name: str, role: str) -> Path:
    """The file virtdeck made in ``pool_dir`` for VM ``vm_name``'s ``role`` (vda, vdb, seed).

    Its name carries the VM's UUID (``web1-1a2b3c4d-vda.qcow2``), so tests find it.
    """
    pattern = re.compile(rf"{re.escape(vm_name)}-[0-9a-f]{{8}}-{re.escape(role)}\.\w+")
    found = [p for p in pool_dir.iterdir() if pattern.fullmatch(p.name)]
    assert len(found) == 1, (vm_name, role, sorted(p.name for p in pool_dir.iterdir()))
    return found[0]


@pytest.fixture(scope="session")
def big_base(pool_dir: Path) -> Iterator[Path]:
    """A 1 GiB raw image with 512 MiB of random data: a full copy takes a second or so."""
    path = pool_dir / f"{PREFIX}big-base.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path), "1G"], check=True)
    with path.open("r+b") as fh:
        for _ in range(512):
            fh.write(os.urandom(2**20))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def start_full_copy(
    settings: Settings, vm_name: str, base: Path, net: IsolatedNet, **popen: Any
) -> subprocess.Popen[str]:
    """``virtdeck vm create --full-copy`` of ``base`` in the background, stderr piped."""
    command = ["vm", "create", vm_name, "--image", str(base), "--full-copy"]
    command += ["--memory", "128M", "--graphics", "none", "--network", net.name]
    return subprocess.Popen(
        virtdeck_command(*command),
        env=env_for_cli(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def running_copy(engine: Engine, name: str, timeout: float) -> OperationInfo:
    """The create of ``name`` while its copy is well under way (10-80 %)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for op in engine.list_operations(5):
            copying = op.state == "running" and op.step.startswith("copying")
            if op.target == name and copying and 10 < op.progress < 80:
                return op
        time.sleep(0.02)
    raise AssertionError(f"no running copy for {name} within {timeout} s")
