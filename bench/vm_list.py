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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    virsh = shutil.which("virsh")
    if virsh is None:
        print("virsh is not installed (Debian package libvirt-clients)", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="vdbench-list-"))
    try:
        node = workdir / "node.xml"
        node.write_text(node_xml(args.vms))
        uri = f"test://{node}"
        env = dict(os.environ)
        env.pop("VIRTDECK_CONNECT", None)
        env["VIRTDECK_DATA_DIR"] = str(workdir / "data")
        py = sys.executable
        commands = {
            "virtdeck vm list": [py, "-m", "virtdeck", "-c", uri, "vm", "list"],
            "virtdeck vm list --json": [py, "-m", "virtdeck", "-c", uri, "vm", "list", "--json"],
            "virsh list --all": [virsh, "-c", uri, "list", "--all"],
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import virtdeck.cli.main'": [py, "-c", "import virtdeck.cli.main"],
        }
        samples: dict[str, list[float]] = {label: [] for label in commands}
        # One warm-up round fills the page cache; then rounds alternate the tools.
        for label, cmd in commands.items():
            _, out = timed(cmd, env)
            if label == "virtdeck vm list --json":
                listed = out.count('"name"')
                assert listed == args.vms, f"virtdeck listed {listed} VMs, not {args.vms}"
            if label == "virsh list --all":
                assert out.count("bench") == args.vms, "virsh did not list every VM"
        for _ in range(args.rounds):
            for label, cmd in commands.items():
                samples[label].append(timed(cmd, env)[0])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {label: statistics.median(s) for label, s in samples.items()}
    base = medians["virsh list --all"]
    print(f"{args.vms} VMs on the test driver, median of {args.rounds} runs (fresh process each):")
    for label, values in samples.items():
        ratio = medians[label] / base
        print(f"  {label:38s} {medians[label]:7.3f} s  x{ratio:5.2f}   {fmt(values)}")
    print(f"  ratio virtdeck vm list / virsh list --all: {medians['virtdeck vm list'] / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
