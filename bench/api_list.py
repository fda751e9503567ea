"""The API over 1,000 VMs: warm ``GET /api/v1/vms``, 50 clients at once, the remote CLI.

Beside ``virsh list --all`` in the same run, on the real libvirtd
(qemu:///system), with ``--vms`` shut-off VMs defined for it (the same
set-up as bench/vm_list.py, which also times the local CLI):

- ``GET /api/v1/vms?limit=1000`` (every VM in one page) on a kept-alive
  connection to a ``virtdeck serve`` started for the run: warm, as a script
  or the web console calls it; goal at most 0.25x of one virsh list;
- ``virtdeck --server URL --token T vm list``: the remote CLI, a fresh
  process each run (reported beside, no goal);
- then 50 clients at once, each asking ``--requests`` times (bounded in
  count and in time, loopback only): p50 and p99 latency; goal p99 < 50 ms.

Run as root with libvirtd running:
    .venv/bin/python bench/api_list.py [--vms 1000] [--rounds 7] [--clients 50] [--requests 20]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import libvirt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vm_list import VIRSH, defined_vms, local_env, run_rounds

from virtdeck.engine.engine import Engine
from virtdeck.settings import Settings

URI = "qemu:///system"
GET = "GET /api/v1/vms (warm, 1 page)"
REMOTE = "virtdeck --server ... vm list"
# The whole concurrent phase stops after this many seconds, finished or not.
LOAD_SECONDS_MAX = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(workdir: Path) -> Iterator[tuple[str, str]]:
    """``virtdeck serve`` on a free loopback port with a data dir of its own; (URL, token)."""
    data = workdir / "server-data"
    engine = Engine(Settings(uri=URI, data_dir=data))
    engine.add_user("bench", "viewer", "bench-password")
    token = engine.create_token("bench", "bench").secret
    engine.close()
    port = _free_port()
    env = {**os.environ, "VIRTDECK_DATA_DIR": str(data)}
    virtdeck = str(Path(sys.executable).parent / "virtdeck")
    with open(workdir / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [virtdeck, "-c", URI, "serve", "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"virtdeck serve did not start; see {workdir / 'serve.log'}")
            time.sleep(0.1)
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        times = sorted(
            float(m)
            for m in re.findall(
                r'"GET /api/v1/vms" 200 ([0-9.]+)ms', (workdir / "serve.log").read_text()
            )
        )
        if times:
            print(
                f"  server-side time of GET /api/v1/vms: p50 {times[len(times) // 2]:.1f} ms, "
                f"p99 {times[int(len(times) * 0.99) - 1]:.1f} ms over {len(times)}"
            )


def concurrent(url: str, token: str, clients: int, requests: int, limit: int) -> list[float]:
    """Latencies of ``clients`` threads, ``requests`` calls each, a connection each."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_SECONDS_MAX
    start = threading.Barrier(clients)
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            http.get("/api/v1/vms", params={"limit": limit})  # connect and warm up
            start.wait()
            for _ in range(requests):
                if time.monotonic() > stop_at:
                    return
                began = time.perf_counter()
                answer = http.get("/api/v1/vms", params={"limit": limit})
                took = time.perf_counter() - began
                if answer.status_code != 200:
                    failures.append(str(answer.status_code))
                with lock:
                    latencies.append(took)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    if not (1 <= args.vms <= 9999 and 1 <= args.rounds <= 50 and 1 <= args.clients <= 200):
        parser.error("--vms 1..9999, --rounds 1..50, --clients 1..200")
    if not 1 <= args.requests <= 200:
        parser.error("--requests 1..200")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(URI)
    workdir = Path(tempfile.mkdtemp(prefix="vdbench-api-"))
    prefix = f"vdbench-{os.getpid()}-"
    virsh = shutil.which("virsh") or "virsh"
    virtdeck = str(Path(sys.executable).parent / "virtdeck")
    try:
        with defined_vms(conn, prefix, args.vms), server(workdir) as (url, token):
            http = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )

            def get() -> str:
                page = http.get("/api/v1/vms", params={"limit": 1000}).json()
                return "\n".join(vm["name"] for vm in page["items"])

            probes = {
                VIRSH: [virsh, "-c", URI, "list", "--all"],
                GET: get,
                REMOTE: [virtdeck, "--server", url, "--token", token, "vm", "list"],
            }
            samples = run_rounds(probes, local_env(workdir), args.rounds, prefix, args.vms)
            loads = {
                limit: concurrent(url, token, args.clients, args.requests, limit)
                for limit in (100, 1000)
            }
            http.close()
        medians = {label: statistics.median(v) for label, v in samples.items()}
        base = medians[VIRSH]
        print(f"{args.vms} shut-off VMs on libvirtd at {URI}, median of {args.rounds} rounds:")
        for label, values in samples.items():
            runs = " ".join(f"{v:.3f}" for v in values)
            print(f"  {label:34s} {medians[label]:7.3f}s  x{medians[label] / base:5.2f}   {runs}")
        print(f"  ratio GET / virsh list --all: {medians[GET] / base:.2f} (goal <= 0.25)")
        for limit, latencies in loads.items():
            ordered = sorted(latencies)
            p50 = ordered[len(ordered) // 2]
            p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
            print(
                f"{args.clients} clients x {args.requests} GET /api/v1/vms?limit={limit} at once: "
                f"{len(ordered)} answers, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
                "(goal p99 < 50 ms)"
            )
    finally:
        conn.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
