"""Listing 1,000 VMs: ``virtdeck vm list`` side by side with ``virsh list --all``.

Defines ``--vms`` small persistent VMs (default 1,000) on the real libvirtd
(qemu:///system) directly with libvirt, named ``vdbench-<pid>-NNNN``:
defined only, never started, no disk. Then, in the same run, it times
alternating rounds of

- ``virsh -c qemu:///system list --all``, the peer tool and the base of
  every ratio;
- ``virtdeck vm list`` (and ``--json``), the venv's console script, a fresh
  process each time: cold, as a user runs it, Python's start-up included;
- a bare libvirt-python script that lists every domain with its state (one
  open, one bulk call, print): the floor under any Python tool.

It reports each median and its ratio to virsh (and the median of the
ratios round by round), and undefines every VM it defined at the end, also
when it fails or is interrupted (Ctrl-C, SIGTERM), then checks that none
is left.

Run as root with libvirtd running:
    .venv/bin/python bench/vm_list.py [--vms 1000] [--rounds 7]

``--test-driver`` runs the same comparison on a libvirt test-driver node
file instead (no root, no libvirtd; every third VM shut off, the others
running).

More to compare (the remote mode, ``GET /api/v1/vms``) goes through
``compare(..., extra={label: probe})``: a probe is a command line (run as a
fresh process each time) or a callable (timed in this process; it returns
the listing's text, or None to skip the check that every VM is in it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import libvirt

# A command line, run as a fresh process; or a callable timed in this process.
Probe = list[str] | Callable[[], str | None]

VIRSH = "virsh list --all"
VIRTDECK = "virtdeck vm list"
VIRTDECK_JSON = "virtdeck vm list --json"
BARE = "bare libvirt-python (floor)"
LIBVIRTD_URI = "qemu:///system"

# The least any Python tool can do for the same listing: open, one bulk
# call, print every domain with its state. No CLI framework, no models.
_BARE_PYTHON_LIST = """
import sys, libvirt
conn = libvirt.open(sys.argv[1])
stats = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
print("\\n".join(f"{dom.name()} {s['state.state']}" for dom, s in stats))
conn.close()
"""

_RUNNING = "<domain type='test'>"
_SHUT_OFF = (
    "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
    "<test:runstate>5</test:runstate>"
)


def node_xml(count: int) -> str:
    """A test-driver <node> with ``count`` domains named benchNNNN."""
    parts = [
        "<node><cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>"
        "<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>"
        "<memory>1073741824</memory>"
    ]
    for i in range(count):
        head = _SHUT_OFF if i % 3 == 0 else _RUNNING
        parts.append(
            f"{head}<name>bench{i:04d}</name><memory>524288</memory>"
            f"<currentMemory>262144</currentMemory><vcpu current='1'>{1 + i % 4}</vcpu>"
            "<os><type>hvm</type></os>"
            "<devices><interface type='network'><source network='default'/></interface>"
            "</devices></domain>"
        )
    parts.append("</node>")
    return "\n".join(parts)


def small_domain_xml(name: str) -> str:
    """A persistent VM that is only ever defined: no disk, no NIC, 64 MiB."""
    return (
        f"<domain type='qemu'><name>{name}</name><memory unit='KiB'>65536</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
    )


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def count_named(conn: libvirt.virConnect, prefix: str) -> int:
    return sum(1 for dom in conn.listAllDomains(0) if dom.name().startswith(prefix))


@contextmanager
def defined_vms(conn: libvirt.virConnect, prefix: str, count: int) -> Iterator[None]:
    """``count`` VMs named prefix + NNNN, undefined again on the way out, whatever happens.

    SIGTERM is turned into KeyboardInterrupt so that it cleans up too; while
    cleaning up, Ctrl-C and SIGTERM are held off.
    """
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        started = time.perf_counter()
        for i in range(count):
            conn.defineXML(small_domain_xml(f"{prefix}{i:04d}"))
            if (i + 1) % 200 == 0:
                print(f"  defined {i + 1}/{count} VMs", file=sys.stderr, flush=True)
        print(f"  defined {count} VMs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        yield
    finally:
        held = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            for dom in conn.listAllDomains(0):
                if dom.name().startswith(prefix):
                    try:
                        dom.undefine()
                    except libvirt.libvirtError as exc:
                        print(f"cannot undefine {dom.name()}: {exc}", file=sys.stderr)
            left = count_named(conn, prefix)
            print(f"  undefined the VMs; {left} named {prefix}* left", file=sys.stderr)
        finally:
            signal.signal(signal.SIGINT, held)
            signal.signal(signal.SIGTERM, previous)


def _run(cmd: list[str], env: Mapping[str, str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(env), check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def timed(probe: Probe, env: Mapping[str, str]) -> tuple[float, str | None]:
    started = time.perf_counter()
    out = _run(probe, env) if isinstance(probe, list) else probe()
    return time.perf_counter() - started, out


def run_rounds(
    probes: Mapping[str, Probe],
    env: Mapping[str, str],
    rounds: int,
    marker: str,
    expected: int,
) -> dict[str, list[float]]:
    """One untimed warm-up of each probe, checking that it lists every VM, then
    ``rounds`` rounds that alternate them, the order turned each round."""
    for label, probe in probes.items():
        _, out = timed(probe, env)
        if out is not None and out.count(marker) != expected:
            raise SystemExit(f"{label} listed {out.count(marker)} of the {expected} VMs")
    samples: dict[str, list[float]] = {label: [] for label in probes}
    labels = list(probes)
    for round_no in range(rounds):
        turn = round_no % len(labels)
        for label in labels[turn:] + labels[:turn]:
            samples[label].append(timed(probes[label], env)[0])
    return samples


def report(title: str, samples: Mapping[str, list[float]]) -> None:
    """Each probe's median and its ratio to virsh's median; beside it the median
    of the ratios round by round (each run against virsh's run of the same
    round), which another load on the machine shifts less."""
    medians = {label: statistics.median(values) for label, values in samples.items()}
    base = medians[VIRSH]
    paired = {
        label: statistics.median(v / b for v, b in zip(values, samples[VIRSH], strict=True))
        for label, values in samples.items()
    }
    print(title)
    print(f"  {'':40s} {'median':>8s}  {'x virsh':>7s}  {'paired':>6s}   runs (s)")
    for label, values in samples.items():
        runs = " ".join(f"{v:.3f}" for v in values)
        ratio = medians[label] / base
        print(f"  {label:40s} {medians[label]:7.3f}s  {ratio:7.2f}  {paired[label]:6.2f}   {runs}")
    print(
        f"  ratio virtdeck vm list / virsh list --all: {medians[VIRTDECK] / base:.2f} "
        f"(paired {paired[VIRTDECK]:.2f}; goal <= 1)"
    )


def base_probes(uri: str) -> dict[str, Probe]:
    virsh = shutil.which("virsh") or "virsh"
    # The console script next to this interpreter: what a user of the venv runs.
    virtdeck = str(Path(sys.executable).parent / "virtdeck")
    return {
        VIRSH: [virsh, "-c", uri, "list", "--all"],
        VIRTDECK: [virtdeck, "-c", uri, "vm", "list"],
        VIRTDECK_JSON: [virtdeck, "-c", uri, "vm", "list", "--json"],
        BARE: [sys.executable, "-c", _BARE_PYTHON_LIST, uri],
    }


def local_env(workdir: Path) -> dict[str, str]:
    """The caller's environment, local mode: a data dir and config dir of its
    own (no stored login), no URI, server or token from the environment."""
    env = dict(os.environ)
    for var in ("VIRTDECK_CONNECT", "VIRTDECK_SERVER", "VIRTDECK_TOKEN"):
        env.pop(var, None)
    env["VIRTDECK_DATA_DIR"] = str(workdir / "data")
    env["XDG_CONFIG_HOME"] = str(workdir / "config")
    return env


def compare(
    vms: int = 1000,
    rounds: int = 7,
    extra: Mapping[str, Probe] | None = None,
    uri: str = LIBVIRTD_URI,
) -> dict[str, list[float]]:
    """Define ``vms`` VMs on ``uri``, time every probe over them, print the table.

    ``extra`` adds probes beside the base ones (virsh, virtdeck, the floor).
    """
    prefix = f"vdbench-{os.getpid()}-"
    # Errors are reported here; libvirt's default handler would print them too.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    workdir = Path(tempfile.mkdtemp(prefix="vdbench-list-"))
    try:
        with defined_vms(conn, prefix, vms):
            others = len(conn.listAllDomains(0)) - vms
            probes = {**base_probes(uri), **(extra or {})}
            samples = run_rounds(probes, local_env(workdir), rounds, prefix, vms)
        report(
            f"{vms} shut-off VMs (and {others} others) on libvirtd at {uri}, "
            f"median of {rounds} rounds, a fresh process each run:",
            samples,
        )
        return samples
    finally:
        conn.close()
        shutil.rmtree(workdir, ignore_errors=True)


def on_test_driver(vms: int, rounds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="vdbench-list-"))
    try:
        node = workdir / "node.xml"
        node.write_text(node_xml(vms))
        samples = run_rounds(
            base_probes(f"test://{node}"), local_env(workdir), rounds, "bench", vms
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(
        f"{vms} VMs on the test driver, median of {rounds} rounds (fresh process each):", samples
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--test-driver", action="store_true", help="a test-driver node file, no libvirtd"
    )
    args = parser.parse_args()
    if not 1 <= args.vms <= 9999 or not 1 <= args.rounds <= 50:
        parser.error("--vms must be 1..9999 and --rounds 1..50")
    if shutil.which("virsh") is None:
        print("virsh is not installed (Debian package libvirt-clients)", file=sys.stderr)
        return 1
    try:
        if args.test_driver:
            on_test_driver(args.vms, args.rounds)
        else:
            compare(args.vms, args.rounds)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
