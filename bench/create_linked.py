"""Creating a VM from a base image: virtdeck's linked clone against virt-install on a copy.

Makes two qcow2 bases with qemu-img and fills them with data through
qemu-io (so they are not empty files): a 10 GiB one (``--fill-gib`` GiB
written, spread over the disk) and a 100 MiB one (64 MiB written). Then, in
the same run, alternating, each round times:

- ``virtdeck vm create --image BASE10G --start`` (a qcow2 overlay, then boot);
- ``virtdeck vm create --image BASE100M --start``;
- the virt-install way on the same 10 GiB base, as a user does it: ``cp``
  the base to a new disk, then ``virt-install --import --noautoconsole``
  (which defines and boots the VM). The copy is part of the time.

The bases hold no OS: each VM stops in its firmware, which is all a create
needs. Everything lives in a directory under /var/tmp (mode 0755, so QEMU's
user can reach the disks) and in a transient storage pool, and is removed at
the end, also on failure. Run as root with libvirtd running; needs qemu-img,
qemu-io and virt-install (Debian: virtinst):
    .venv/bin/python bench/create_linked.py [--rounds 3] [--fill-gib 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import libvirt

GIB = 2**30
LINKED_BIG = "virtdeck vm create --image (10 GiB base)"
LINKED_SMALL = "virtdeck vm create --image (100 MiB base)"
MIB = 2**20


def run(*cmd: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")


def make_base(path: Path, size: int, written: int, chunk: int) -> None:
    """A qcow2 of ``size`` bytes with ``written`` bytes of data in chunks spread over it."""
    run("qemu-img", "create", "-q", "-f", "qcow2", str(path), str(size))
    chunks = max(1, written // chunk)
    step = size // chunks
    commands = []
    for i in range(chunks):
        # A different byte per chunk, so no layer could treat the data as zeroes.
        commands += ["-c", f"write -P {0x11 + i % 200} {i * step} {chunk}"]
    run("qemu-io", "-f", "qcow2", *commands, str(path))
    os.chmod(path, 0o644)


def timed(*cmd: str, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    run(*cmd, env=env)
    return time.perf_counter() - started


@contextmanager
def workspace() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vdbench-create-", dir="/var/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_vm(conn: libvirt.virConnect, name: str) -> None:
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    if dom.isActive():
        dom.destroy()
    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


def virt_install(name: str, disk: Path) -> None:
    """What a virt-install user types to boot an existing disk (TCG here, as virtdeck picks)."""
    run(
        "virt-install",
        "--connect",
        "qemu:///system",
        "--name",
        name,
        "--memory",
        "128",
        "--virt-type",
        "qemu",
        "--import",
        "--disk",
        f"path={disk},format=qcow2,bus=virtio",
        "--network",
        "none",
        "--graphics",
        "none",
        "--osinfo",
        "detect=on,require=off",
        "--noautoconsole",
    )


def copy_and_virt_install(base: Path, disk: Path, name: str) -> tuple[float, float]:
    """(seconds in all, seconds of the copy); the copy is deleted afterwards."""
    started = time.perf_counter()
    run("cp", str(base), str(disk))
    copied = time.perf_counter() - started
    try:
        virt_install(name, disk)
        return time.perf_counter() - started, copied
    finally:
        disk.unlink()


def report(samples: dict[str, list[float]], rounds: int, fill_gib: float) -> None:
    med = {label: statistics.median(values) for label, values in samples.items()}
    linked_big = med["virtdeck vm create --image (10 GiB base)"]
    print(
        f"create and start a VM from a base image, median of {rounds} "
        f"(10 GiB base with {fill_gib:g} GiB of data; 100 MiB base with 64 MiB):"
    )
    print(f"  {'':44s} {'median':>8s}  {'x linked 10G':>12s}   runs")
    for label, values in samples.items():
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"  {label:44s} {med[label]:7.2f}s  {med[label] / linked_big:12.2f}   {runs}")
    small_ratio = linked_big / med["virtdeck vm create --image (100 MiB base)"]
    vi_ratio = med["cp 10 GiB base + virt-install --import"] / linked_big
    print(
        f"  linked clone, 10 GiB base / 100 MiB base: {small_ratio:.2f} (target <= 1, noise aside)"
    )
    print(f"  virt-install path / linked clone from 10 GiB: {vi_ratio:.1f}x (target >= 10)")


def transient_pool(conn: libvirt.virConnect, name: str, path: Path) -> Path:
    """Where virtdeck puts the new disks: gone with libvirtd's next restart at the latest."""
    path.mkdir(mode=0o755)
    xml = f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
    conn.storagePoolCreateXML(xml, 0)
    return path


def tools_present() -> bool:
    for tool in ("qemu-img", "qemu-io", "virt-install"):
        if shutil.which(tool) is None:
            hint = " (apt-get install virtinst)" if tool == "virt-install" else ""
            print(f"{tool} is not installed{hint}", file=sys.stderr)
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fill-gib", type=float, default=4.0, help="data in the 10 GiB base")
    args = parser.parse_args()
    if not tools_present():
        return 1
    tag = f"vdbench-{uuid.uuid4().hex[:6]}"
    # Errors are handled here; libvirt's default handler would also print them.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open("qemu:///system")
    made: list[str] = []
    samples: dict[str, list[float]] = {
        "virtdeck vm create --image (10 GiB base)": [],
        "virtdeck vm create --image (100 MiB base)": [],
        "cp 10 GiB base + virt-install --import": [],
        "  of which cp": [],
    }
    pool = f"{tag}-pool"
    with workspace() as work:
        try:
            pool_dir = transient_pool(conn, pool, work / "pool")
            big, small = work / "base-10G.qcow2", work / "base-100M.qcow2"
            print(f"making bases in {work} ...", flush=True)
            make_base(big, 10 * GIB, int(args.fill_gib * GIB), 256 * MIB)
            make_base(small, 100 * MIB, 64 * MIB, 16 * MIB)
            env = dict(os.environ)
            env.update(
                VIRTDECK_CONNECT="qemu:///system",
                VIRTDECK_DATA_DIR=str(work / "data"),
                VIRTDECK_POOL=pool,
                VIRTDECK_IMAGES_DIR=str(pool_dir),
            )
            virtdeck = [sys.executable, "-m", "virtdeck", "vm", "create"]
            common = ["--memory", "128M", "--network", "none", "--graphics", "none", "--start"]
            # Round 0 is a warm-up, not counted: the first virtdeck create on a
            # fresh data dir probes KVM once (about 12 s), and caches start cold.
            for round_no in range(args.rounds + 1):
                # The order turns each round, and the page cache's dirty data
                # (4 GiB after a copy) is written out between steps, untimed:
                # otherwise whichever step follows the copy pays for its writeback.
                steps = ["big", "small", "vi"]
                steps = steps[round_no % 3 :] + steps[: round_no % 3]
                for step in steps:
                    name = f"{tag}-{round_no}-{step}"
                    made.append(name)
                    run("sync")
                    if step == "vi":
                        total, copied = copy_and_virt_install(big, pool_dir / f"{name}.qcow2", name)
                        if round_no:
                            samples["cp 10 GiB base + virt-install --import"].append(total)
                            samples["  of which cp"].append(copied)
                    else:
                        label = LINKED_BIG if step == "big" else LINKED_SMALL
                        base = big if step == "big" else small
                        took = timed(*virtdeck, name, "--image", str(base), *common, env=env)
                        if round_no:
                            samples[label].append(took)
                    remove_vm(conn, name)  # a VM spinning in its firmware would load the host
        finally:
            for name in made:
                remove_vm(conn, name)
            for log in Path("/var/log/libvirt/qemu").glob(f"{tag}-*"):
                log.unlink(missing_ok=True)
            try:
                conn.storagePoolLookupByName(pool).destroy()
            except libvirt.libvirtError:
                pass
            conn.close()
    report(samples, args.rounds, args.fill_gib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
