"""The API under load while libvirtd restarts, is killed, or stops answering.

``virtdeck serve`` runs on qemu:///system with a short request deadline
(VIRTDECK_API_DEADLINE); four clients read the VM list and one VM over and
over, bounded in count and time. What must hold:

- libvirtd restarted (SIGTERM) or killed (SIGKILL): while it is gone the
  API answers 503 ``host_unavailable`` at once, never 500 and never a hang;
  within 10 s of libvirtd being back it answers 200 again by itself; the
  running guest is untouched (the same QEMU process, and inside it the same
  boot and an uptime that went on growing);
- libvirtd stopped (SIGSTOP): a request ends with 504 ``timeout`` at the
  deadline, ``/health`` answers within 1 s all along, and after SIGCONT the
  API answers 200 again within 10 s.

libvirtd runs again at the end of every test, also when it fails.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import libvirt
import pytest

from tests.integration.api_server import Served, served
from tests.integration.conftest import URI, IsolatedNet, appliance_request
from tests.integration.guest import wait_ready
from virtdeck.engine import Engine
from virtdeck.engine.services.vm_cache import RESYNC_SECONDS
from virtdeck.host.console import SerialConsole
from virtdeck.settings import Settings

pytestmark = [pytest.mark.disruptive, pytest.mark.slow]

DEADLINE = 5.0  # the server's request deadline in these tests
RECOVERY = 10.0  # the API answers 200 within this long of libvirtd being back
DOWN = 3.0  # how long libvirtd stays away
STOPPED = 12.0  # how long libvirtd stays SIGSTOPped (keepalive gives up after ~30 s)
BOOT = 180.0
QEMU_PID_DIR = Path("/run/libvirt/qemu")


@pytest.fixture(autouse=True)
def _not_under_systemd() -> None:
    if Path("/run/systemd/system").is_dir():
        pytest.skip("restarting libvirtd under systemd is left to systemd")


# -- libvirtd ----------------------------------------------------------------


def libvirtd_pid() -> int | None:
    found = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True, check=False)
    pids = [int(p) for p in found.stdout.split()]
    assert len(pids) <= 1, f"more than one libvirtd runs: {pids}"
    return pids[0] if pids else None


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"libvirtd ({pid}) still runs {timeout} s after the signal")
        time.sleep(0.02)
    return time.monotonic()


def wait_reachable(timeout: float) -> float:
    """When a fresh connection to libvirtd first opened."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            libvirt.open(URI).close()
            return time.monotonic()
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_libvirtd() -> None:
    subprocess.run(["libvirtd", "-d"], check=True)


@contextlib.contextmanager
def libvirtd_kept_running() -> Iterator[None]:
    """Whatever the block did to libvirtd, it runs and answers afterwards."""
    try:
        yield
    finally:
        pid = libvirtd_pid()
        if pid is None:
            start_libvirtd()
        else:
            os.kill(pid, signal.SIGCONT)  # nothing when it was not stopped
        wait_reachable(60)


# -- the load ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    path: str
    began: float
    ended: float
    status: int  # 0: no HTTP answer at all (the client gave up or could not connect)
    code: str | None

    @property
    def seconds(self) -> float:
        return self.ended - self.began

    def __str__(self) -> str:
        return f"{self.status} {self.code} {self.path} after {self.seconds:.2f} s"


class Load:
    """``threads`` clients asking ``paths`` in turn until stopped; bounded in count and time."""

    def __init__(
        self,
        api: Served,
        paths: list[str],
        threads: int = 4,
        max_requests: int = 4000,
        max_seconds: float = 240.0,
    ) -> None:
        self.api = api
        self.paths = paths
        self.answers: list[Answer] = []
        self._left = max_requests
        self._until = time.monotonic() + max_seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(threads)
        ]

    def _take(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self._left <= 0 or time.monotonic() > self._until:
                return False
            self._left -= 1
            return True

    def _run(self, index: int) -> None:
        time.sleep(0.03 * index)  # spread the clients over time
        # A client timeout far beyond the deadline: a hang shows as status 0.
        with self.api.client(timeout=DEADLINE * 4) as client:
            for i in itertools.count(index):
                if not self._take():
                    return
                path = self.paths[i % len(self.paths)]
                began = time.monotonic()
                try:
                    got = client.get(path)
                    status = got.status_code
                    code = got.json().get("code") if status >= 400 else None
                except (httpx.HTTPError, ValueError):
                    status, code = 0, None
                self.answers.append(Answer(path, began, time.monotonic(), status, code))
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=DEADLINE * 5)

    def snapshot(self) -> list[Answer]:
        return list(self.answers)

    def first_ok_after(self, since: float, timeout: float) -> Answer:
        """The first 200 to a request made after ``since``; waits up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            oks = [a for a in self.snapshot() if a.began >= since and a.status == 200]
            if oks:
                return min(oks, key=lambda a: a.ended)
            if time.monotonic() > deadline:
                later = [str(a) for a in self.snapshot() if a.began >= since]
                raise AssertionError(f"no 200 within {timeout} s; answers since: {later[-12:]}")
            time.sleep(0.02)

    def settle(self, since: float, count: int, timeout: float = 30) -> list[Answer]:
        """Wait for ``count`` answers to requests made after ``since``; those answers."""
        deadline = time.monotonic() + timeout
        while True:
            got = [a for a in self.snapshot() if a.began >= since]
            if len(got) >= count:
                return got
            assert time.monotonic() < deadline, f"only {len(got)} answers in {timeout} s"
            time.sleep(0.05)


# -- the guest -----------------------------------------------------------------


def guest_says(engine: Engine, name: str, command: str, answer: str) -> str:
    """Type ``command`` into the guest's root shell; the first group of ``answer``."""
    with SerialConsole(engine.host, name) as console:
        console.send("\n")
        console.expect(r"appliance# ", timeout=60)
        console.send(command + "\n")
        return console.expect(answer, timeout=60).group(1)


def boot_id(engine: Engine, name: str) -> str:
    command = "cat /proc/sys/kernel/random/boot_id | sed 's/^/boot=/'"
    return guest_says(engine, name, command, r"boot=([0-9a-f-]{36})")


def uptime(engine: Engine, name: str) -> float:
    command = "cut -d' ' -f1 /proc/uptime | sed 's/^/up=/'"
    return float(guest_says(engine, name, command, r"up=(\d+\.\d+)"))


def qemu_pid(name: str) -> int:
    pid = int((QEMU_PID_DIR / f"{name}.pid").read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert f"guest={name}".encode() in b" ".join(cmdline), (pid, cmdline[:4])
    return pid


# -- the outages ---------------------------------------------------------------


@dataclass(frozen=True)
class Outage:
    signal: str
    sent: float  # the signal was sent
    gone: float  # the process had ended
    started: float  # libvirtd -d was run
    up: float  # a fresh connection opened
    first_ok: Answer  # the first 200 to a request made after ``up``

    def report(self, answers: list[Answer]) -> str:
        around = [a for a in answers if a.ended >= self.sent and a.began <= self.first_ok.began]
        down = [a for a in around if a.status == 503]
        counts = {
            s: sum(1 for a in around if a.status == s) for s in sorted({a.status for a in around})
        }
        first, last = min(a.ended for a in down), max(a.ended for a in down)
        return (
            f"{self.signal}: exited {self.gone - self.sent:.2f} s after the signal, "
            f"restarted {self.started - self.gone:.2f} s later, reachable "
            f"{self.up - self.started:.2f} s after that; answers {counts}; 503 from "
            f"{first - self.gone:+.2f} s after the exit to {last - self.up:+.2f} s after "
            f"libvirtd was back ({last - first:.2f} s); slowest "
            f"{max(a.seconds for a in around):.2f} s; first 200 "
            f"{self.first_ok.ended - self.up:.2f} s after libvirtd was back"
        )


def outage(load: Load, sig: signal.Signals) -> Outage:
    """libvirtd ended by ``sig``, away for DOWN seconds, then started again."""
    pid = libvirtd_pid()
    assert pid is not None, "libvirtd is not running"
    sent = time.monotonic()
    os.kill(pid, sig)
    gone = wait_gone(pid, 30)
    time.sleep(DOWN)
    started = time.monotonic()
    start_libvirtd()
    up = wait_reachable(30)
    first_ok = load.first_ok_after(up, RECOVERY + DEADLINE)
    return Outage(sig.name, sent, gone, started, up, first_ok)


def check_outage(load: Load, seen: Outage) -> None:
    answers = load.snapshot()
    # While libvirtd is gone: 503 host_unavailable, at once.
    while_down = [a for a in answers if a.began >= seen.gone and a.ended <= seen.started]
    assert while_down, "no request was answered while libvirtd was down"
    wrong = [str(a) for a in while_down if (a.status, a.code) != (503, "host_unavailable")]
    assert not wrong, f"{seen.signal}: while libvirtd was down: {wrong[:10]}"
    slow = [str(a) for a in while_down if a.seconds > 1.0]
    assert not slow, f"{seen.signal}: a 503 took over 1 s: {slow[:10]}"
    # From the signal to the recovery: only 200 or 503, each within the deadline.
    around = [a for a in answers if a.ended >= seen.sent and a.began <= seen.first_ok.began]
    wrong = [str(a) for a in around if a.status not in (200, 503)]
    assert not wrong, f"{seen.signal}: answers besides 200 and 503: {wrong[:10]}"
    slow = [str(a) for a in around if a.seconds > DEADLINE + 1]
    assert not slow, f"{seen.signal}: requests that waited past the deadline: {slow[:10]}"
    # Back by itself, in time, and for good.
    assert seen.first_ok.ended - seen.up <= RECOVERY, seen.report(answers)
    after = load.settle(seen.first_ok.ended, count=20)
    wrong = [str(a) for a in after if a.status != 200]
    assert not wrong, f"{seen.signal}: after the first 200 again: {wrong[:10]}"


def test_api_rides_out_libvirtd_restart_and_crash_and_the_guest_is_untouched(
    engine: Engine,
    settings: Settings,
    test_net: IsolatedNet,
    vm_name: str,
    pool_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, max_cpus=1))
    wait_ready(engine, vm_name, timeout=BOOT)
    pid, boot, up_before = qemu_pid(vm_name), boot_id(engine, vm_name), uptime(engine, vm_name)
    measured = time.monotonic()
    env = {"VIRTDECK_API_DEADLINE": str(DEADLINE)}
    reports = []
    with served(engine, settings, env) as api, libvirtd_kept_running():
        paths = ["/api/v1/vms", f"/api/v1/vms/{vm_name}"]
        with Load(api, paths) as load:
            before = load.settle(time.monotonic(), count=20)
            assert {a.status for a in before} == {200}, [str(a) for a in before]

            restarted = outage(load, signal.SIGTERM)
            check_outage(load, restarted)
            killed = outage(load, signal.SIGKILL)
            check_outage(load, killed)
            answers = load.snapshot()
            reports = [restarted.report(answers), killed.report(answers)]
        assert len(load.answers) < 4000, "the load ran into its bound"

        # The guest went on running in the same QEMU, through both outages.
        assert qemu_pid(vm_name) == pid
        assert boot_id(engine, vm_name) == boot
        up_after = uptime(engine, vm_name)
        assert up_after - up_before >= (time.monotonic() - measured) - 5, (up_before, up_after)

        with api.client() as client:
            deleted = client.delete(f"/api/v1/vms/{vm_name}", params={"force": "true"})
            assert deleted.status_code == 200, deleted.text
    assert vm_name not in {v.name for v in engine.list_vms()}
    assert not list(pool_dir.glob(f"{vm_name}*")), "the VM's disk is left"
    with capsys.disabled():
        print("\n" + "\n".join(reports))


def test_api_answers_504_while_libvirtd_is_stopped_and_health_answers(
    engine: Engine,
    settings: Settings,
    test_net: IsolatedNet,
    vm_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    env = {"VIRTDECK_API_DEADLINE": str(DEADLINE)}
    with served(engine, settings, env) as api, libvirtd_kept_running():
        paths = ["/api/v1/vms", f"/api/v1/vms/{vm_name}"]
        with Load(api, paths) as load, httpx.Client(base_url=api.url, timeout=1.0) as health:
            before = load.settle(time.monotonic(), count=20)
            assert {a.status for a in before} == {200}, [str(a) for a in before]

            pid = libvirtd_pid()
            assert pid is not None, "libvirtd is not running"
            os.kill(pid, signal.SIGSTOP)
            stopped = time.monotonic()
            checks: list[tuple[int, float]] = []
            try:
                while time.monotonic() - stopped < STOPPED:
                    began = time.monotonic()
                    try:
                        status = health.get("/health").status_code
                    except httpx.HTTPError:
                        status = 0
                    checks.append((status, time.monotonic() - began))
                    time.sleep(0.25)
            finally:
                os.kill(pid, signal.SIGCONT)
            resumed = time.monotonic()
            first_ok = load.first_ok_after(resumed, RECOVERY + DEADLINE)
            after = load.settle(first_ok.ended, count=20)

        answers = load.snapshot()
        # /health never waited on libvirt.
        bad = [c for c in checks if c[0] != 200 or c[1] > 1.0]
        assert not bad, f"/health while libvirtd was stopped: {bad[:10]}"
        # A request made while libvirtd was stopped ended at the deadline with 504.
        # The VM list is the exception while its cache is young: the server
        # answers it from the listing it keeps (at most RESYNC_SECONDS old,
        # and only while the connection is not known to be dead).
        cached = [
            a
            for a in answers
            if a.path == "/api/v1/vms"
            and a.status == 200
            and a.seconds < 1.0
            and stopped <= a.began <= stopped + RESYNC_SECONDS
        ]
        answers = [a for a in answers if a not in cached]
        frozen = [a for a in answers if stopped + 0.5 <= a.began <= resumed - DEADLINE - 0.5]
        assert frozen, "no request was made while libvirtd was stopped"
        wrong = [str(a) for a in frozen if (a.status, a.code) != (504, "timeout")]
        assert not wrong, f"while libvirtd was stopped: {wrong[:10]}"
        off = [str(a) for a in frozen if not DEADLINE - 0.2 <= a.seconds <= DEADLINE + 1.5]
        assert not off, f"a 504 did not come at the deadline: {off[:10]}"
        around = [a for a in answers if a.ended >= stopped and a.began <= first_ok.began]
        wrong = [str(a) for a in around if a.status not in (200, 504)]
        assert not wrong, f"answers besides 200 and 504: {wrong[:10]}"
        # Back by itself after SIGCONT.
        assert first_ok.ended - resumed <= RECOVERY, str(first_ok)
        wrong = [str(a) for a in after if a.status != 200]
        assert not wrong, f"after the first 200 again: {wrong[:10]}"
        seconds = sorted(a.seconds for a in frozen)
        report = (
            f"SIGSTOP {STOPPED:g} s: {len(frozen)} answers 504 after "
            f"{seconds[0]:.2f}-{seconds[-1]:.2f} s, /health {len(checks)} checks, slowest "
            f"{max(c[1] for c in checks) * 1000:.0f} ms, first 200 "
            f"{first_ok.ended - resumed:.2f} s after SIGCONT"
        )
    with capsys.disabled():
        print("\n" + report)
