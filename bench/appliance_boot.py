"""Boot to ready: the appliance started by virtdeck and by virsh, side by side.

Creates one appliance VM (linked clone, isolated network, no graphics),
then alternates ``virtdeck vm start`` and ``virsh start`` on it, timing each
from the command until the guest prints its ready line on the serial
console. Reports the medians and the ratio virtdeck / virsh. The appliance's
goal is ready within 15 s under TCG; this shows where a run stands.

Run as root after ``bash setup.sh demo``:
    .venv/bin/python bench/appliance_boot.py [--rounds 3]
Everything it makes is named vdbench-* and removed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import libvirt

from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.settings import Settings

READY = "virtdeck-appliance ready"
APPLIANCE = Path("/var/lib/virtdeck/appliance/appliance.qcow2")


def wait_ready(log: Path, started: float, timeout: float = 120) -> float:
    while time.monotonic() - started < timeout:
        try:
            if READY in log.read_text(errors="replace"):
                return time.monotonic() - started
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"no ready line in {log} within {timeout} s")


def stop(conn: libvirt.virConnect, name: str) -> None:
    dom = conn.lookupByName(name)
    if dom.isActive():
        dom.destroy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not APPLIANCE.is_file():
        print("build the appliance first: bash setup.sh demo", file=sys.stderr)
        return 1
    name = f"vdbench-{uuid.uuid4().hex[:6]}"
    conn = libvirt.open("qemu:///system")
    net_name = f"{name}-net"
    conn.networkCreateXML(
        f"<network><name>{net_name}</name><ip address='10.213.250.1' netmask='255.255.255.0'>"
        "<dhcp><range start='10.213.250.100' end='10.213.250.200'/></dhcp></ip></network>"
    )
    engine = Engine(Settings.from_env())
    ours: list[float] = []
    theirs: list[float] = []
    try:
        vm = engine.create_vm(
            VmCreate(
                name=name,
                image=str(APPLIANCE),
                memory_bytes=256 * 2**20,
                networks=[net_name],
                graphics="none",
            )
        )
        assert vm.serial_log is not None
        log = Path(vm.serial_log)
        for _ in range(args.rounds):
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "virtdeck", "vm", "start", name],
                check=True,
                capture_output=True,
            )
            ours.append(wait_ready(log, started))
            stop(conn, name)
            started = time.monotonic()
            subprocess.run(["virsh", "-q", "start", name], check=True, capture_output=True)
            theirs.append(wait_ready(log, started))
            stop(conn, name)
    finally:
        try:
            engine.delete_vm(name)
        finally:
            conn.networkLookupByName(net_name).destroy()
            conn.close()
            # The serial log and libvirt's QEMU log outlive a deleted VM.
            for log in Path("/var/log/libvirt/qemu").glob(f"{name}*.log"):
                log.unlink()
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"start to ready line, median of {args.rounds} (TCG, 256 MiB, 1 vCPU):")
    print(f"  virtdeck vm start  {a:6.2f} s   {' '.join(f'{x:.2f}' for x in ours)}")
    print(f"  virsh start        {b:6.2f} s   {' '.join(f'{x:.2f}' for x in theirs)}")
    print(f"  ratio virtdeck/virsh: {a / b:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
