"""CLI options that only a real host can carry out, run through the command line.

``vm snapshot create --disk-only`` (libvirt's test driver refuses the flag):
an external overlay is made beside the disk and the VM runs on it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import IsolatedNet, appliance_request, made_file, virtdeck
from tests.integration.guest import wait_ready
from virtdeck.engine import Engine
from virtdeck.settings import Settings


def test_snapshot_create_disk_only_makes_an_overlay_the_vm_runs_on(
    settings: Settings, engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=180)
    disk = made_file(pool_dir, vm_name, "vda")

    made = virtdeck(settings, "vm", "snapshot", "create", vm_name, "d1", "--disk-only", "--json")
    assert made.returncode == 0, made.stderr
    snap = json.loads(made.stdout)
    overlay = disk.with_suffix(".d1")
    assert snap["kind"] == "disk-only" and snap["overlays"] == [str(overlay)]
    assert overlay.is_file()
    assert engine.get_vm(vm_name).disks[0].path == str(overlay)
