"""Long operations on the real libvirtd: progress of a copy, and a create killed mid-copy.

The kill is real: ``virtdeck vm create --full-copy`` runs as its own
process and gets SIGKILL while qemu-img copies, so nothing of virtdeck's
own clean-up runs. The next command must find the orphaned operation, mark
it interrupted and remove the half-copied disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.conftest import (
    APPLIANCE,
    PREFIX,
    IsolatedNet,
    appliance_request,
    env_for_cli,
    virtdeck,
)
from virtdeck.engine import Engine
from virtdeck.engine.schemas import OperationInfo
from virtdeck.settings import Settings


@pytest.fixture(scope="module")
def big_base(pool_dir: Path) -> Iterator[Path]:
    """A 1 GiB raw image with 512 MiB of random data: a copy takes a second or so."""
    path = pool_dir / f"{PREFIX}big-base.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path), "1G"], check=True)
    with path.open("r+b") as fh:
        for _ in range(512):
            fh.write(os.urandom(2**20))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def test_full_copy_reports_its_progress_and_is_recorded(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    seen: list[OperationInfo] = []
    engine.on_progress = seen.append
    engine.create_vm(appliance_request(vm_name, test_net, full_copy=True, start=False))
    copying = [s.progress for s in seen if s.step == f"copying {APPLIANCE}"]
    assert copying[0] == 10 and copying[-1] == 80, copying
    assert copying == sorted(copying)
    assert [s.step for s in seen][-1] == "defining the VM"
    op = engine.list_operations(1)[0]
    assert (op.kind, op.target, op.state, op.pending) == ("create", vm_name, "succeeded", [])


def _running_copy(engine: Engine, name: str, timeout: float) -> OperationInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for op in engine.list_operations(5):
            copying = op.state == "running" and op.step.startswith("copying")
            if op.target == name and copying and 10 < op.progress < 80:
                return op
        time.sleep(0.02)
    raise AssertionError(f"no running copy for {name} within {timeout} s")


def test_a_killed_create_is_interrupted_and_its_disk_removed(
    engine: Engine,
    settings: Settings,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    pool_dir: Path,
    big_base: Path,
) -> None:
    disk = pool_dir / f"{vm_name}-vda.qcow2"
    command = ["vm", "create", vm_name, "--image", str(big_base), "--full-copy"]
    command += ["--memory", "128M", "--graphics", "none", "--network", test_net.name]
    create = subprocess.Popen(
        [sys.executable, "-m", "virtdeck", *command],
        env=env_for_cli(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        op = _running_copy(engine, vm_name, timeout=60)
        assert op.pending == [f"file {disk}"] and disk.exists()
        create.kill()
    finally:
        create.kill()
        create.wait()

    listed = virtdeck(settings, "operation", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = next(o for o in json.loads(listed.stdout) if o["id"] == op.id)
    assert mine["state"] == "interrupted" and mine["pending"] == []
    assert f"removed {disk}" in mine["error"]
    assert not disk.exists()
    assert vm_name not in [d.name() for d in conn.listAllDomains(0)]

    shown = virtdeck(settings, "operation", "show", str(op.id))
    assert "interrupted" in shown.stdout and "its process ended" in shown.stdout
