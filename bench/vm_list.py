"""Listing 1,000 VMs: ``virtdeck vm list`` side by side with ``virsh list --all``.

Writes a libvirt test-driver node file with 1,000 small domains (every
third one shut off, the others running), then times, alternating in the
same run, ``virtdeck -c test:///FILE vm list`` (table and ``--json``)
against ``virsh -c test:///FILE list --all``. Each command is a fresh
process, as a user runs it, so Python's start-up is part of virtdeck's time.
Also reports the floor that any Python CLI pays: ``python -c pass`` and the
import of ``virtdeck.cli.main``.

Needs no root and no libvirtd (the test driver runs inside each client):
    .venv/bin/python bench/vm_list.py [--vms 1000] [--rounds 5]

``--libvirtd`` adds the same comparison against the real libvirtd
(qemu:///system, as root): it defines that many small shut-off VMs named
``vdbench<pid>-NNNN``, times both tools, and undefines them again, also
when it fails. There virsh asks libvirtd about each VM in turn, while
virtdeck makes a few bulk calls, so the result depends on the round trips
and not on parsing a node file.
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
from pathlib import Path

import libvirt

_RUNNING = "<domain type='test'>"
_SHUT_OFF = (
    "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
    "<test:runstate>5</test:runstate>"
)


def node_xml(count: int) -> str:
    """A test-driver <node> with ``count`` domains."""
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


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def fmt(samples: list[float]) -> str:
    return " ".join(f"{s:.3f}" for s in samples)


def run_rounds(
    commands: dict[str, list[str]], env: dict[str, str], vms: int, rounds: int, marker: str
) -> dict[str, list[float]]:
    """One warm-up run of each command (checking it lists every VM), then
    ``rounds`` rounds that alternate the tools."""
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for label, cmd in commands.items():
        _, out = timed(cmd, env)
        if label == "virtdeck vm list --json":
            listed = out.count(f'"{marker}')
            assert listed == vms, f"virtdeck listed {listed} VMs, not {vms}"
        if label == "virsh list --all":
            assert out.count(marker) == vms, "virsh did not list every VM"
    for _ in range(rounds):
        for label, cmd in commands.items():
            samples[label].append(timed(cmd, env)[0])
    return samples


# The least any Python tool can do for the same listing: open, one bulk
# call, print. No CLI framework, no models; the floor under virtdeck.
_BARE_PYTHON_LIST = """
import sys, libvirt
conn = libvirt.open(sys.argv[1])
stats = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
print("\\n".join(f"{dom.name()} {s['state.state']}" for dom, s in stats))
conn.close()
"""


def list_commands(py: str, virsh: str, uri: str) -> dict[str, list[str]]:
    return {
        "virtdeck vm list": [py, "-m", "virtdeck", "-c", uri, "vm", "list"],
        "virtdeck vm list --json": [py, "-m", "virtdeck", "-c", uri, "vm", "list", "--json"],
        "virsh list --all": [virsh, "-c", uri, "list", "--all"],
        "bare Python: open + bulk stats + print": [py, "-c", _BARE_PYTHON_LIST, uri],
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import virtdeck.cli.main'": [py, "-c", "import virtdeck.cli.main"],
    }


def report(title: str, samples: dict[str, list[float]]) -> None:
    medians = {label: statistics.median(s) for label, s in samples.items()}
    base = medians["virsh list --all"]
    print(title)
    for label, values in samples.items():
        ratio = medians[label] / base
        print(f"  {label:38s} {medians[label]:7.3f} s  x{ratio:5.2f}   {fmt(values)}")
    print(f"  ratio virtdeck vm list / virsh list --all: {medians['virtdeck vm list'] / base:.2f}")


def on_test_driver(virsh: str, env: dict[str, str], vms: int, rounds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="vdbench-list-"))
    try:
        node = workdir / "node.xml"
        node.write_text(node_xml(vms))
        env = {**env, "VIRTDECK_DATA_DIR": str(workdir / "data")}
        commands = list_commands(sys.executable, virsh, f"test://{node}")
        samples = run_rounds(commands, env, vms, rounds, "bench")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(f"{vms} VMs on the test driver, median of {rounds} runs (fresh process each):", samples)


def on_libvirtd(virsh: str, env: dict[str, str], vms: int, rounds: int) -> None:
    uri = "qemu:///system"
    prefix = f"vdbench{os.getpid()}-"
    conn = libvirt.open(uri)
    workdir = Path(tempfile.mkdtemp(prefix="vdbench-list-"))
    try:
        for i in range(vms):
            conn.defineXML(
                f"<domain type='qemu'><name>{prefix}{i:04d}</name><memory>65536</memory>"
                "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
            )
        others = len(conn.listAllDomains(0)) - vms
        env = {**env, "VIRTDECK_DATA_DIR": str(workdir / "data")}
        samples = run_rounds(list_commands(sys.executable, virsh, uri), env, vms, rounds, prefix)
    finally:
        for dom in conn.listAllDomains(0):
            if dom.name().startswith(prefix):
                dom.undefine()
        conn.close()
        shutil.rmtree(workdir, ignore_errors=True)
    report(
        f"{vms} shut-off VMs (and {others} others) on libvirtd at {uri}, median of {rounds} runs:",
        samples,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--libvirtd", action="store_true", help="also compare on qemu:///system (root)"
    )
    args = parser.parse_args()
    virsh = shutil.which("virsh")
    if virsh is None:
        print("virsh is not installed (Debian package libvirt-clients)", file=sys.stderr)
        return 1
    env = dict(os.environ)
    env.pop("VIRTDECK_CONNECT", None)
    on_test_driver(virsh, env, args.vms, args.rounds)
    if args.libvirtd:
        on_libvirtd(virsh, env, args.vms, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
