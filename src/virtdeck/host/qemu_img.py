"""qemu-img under limits: every qemu-img run of virtdeck goes through here.

A crafted image can make qemu-img work or allocate without end, so each run
gets an address-space and a CPU limit (util-linux's prlimit, which sets them
and execs qemu-img) and, where the caller gives one, a timeout.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Sequence

from virtdeck.errors import HostUnavailable, OperationFailed, Timeout
from virtdeck.model.units import format_size

QEMU_IMG_MISSING = (
    "qemu-img is not installed; install Debian's qemu-utils (bash setup.sh demo does)"
)
PRLIMIT_MISSING = "prlimit is not installed; install Debian's util-linux"


def qemu_img_argv(args: Sequence[str], memory_bytes: int, cpu_seconds: int | None) -> list[str]:
    """``prlimit ... qemu-img ARGS``: qemu-img under an address-space and a CPU limit.

    prlimit sets the limits and execs qemu-img (so its pid is qemu-img's);
    ``preexec_fn`` is no option in a process with threads.
    """
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise HostUnavailable(QEMU_IMG_MISSING)
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise HostUnavailable(PRLIMIT_MISSING)
    cpu = "unlimited" if cpu_seconds is None else str(cpu_seconds)
    return [prlimit, f"--as={memory_bytes}", f"--cpu={cpu}", "--", qemu_img, *args]


def run_limited(
    args: Sequence[str],
    action: str,
    *,
    timeout: float | None,
    memory_bytes: int,
    cpu_seconds: int | None,
) -> subprocess.CompletedProcess[str]:
    """``run_qemu_img`` with each limit given (``None``: no time or CPU limit)."""
    argv = qemu_img_argv(args, memory_bytes, cpu_seconds)
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run killed it
        raise Timeout(
            f"cannot {action}: qemu-img took more than {timeout:g} s and was stopped; "
            "check that the file is on a disk that answers, then try again"
        ) from exc
    except FileNotFoundError as exc:
        raise HostUnavailable(QEMU_IMG_MISSING) from exc
    failure = limit_failure(proc.returncode, proc.stderr, action, memory_bytes, cpu_seconds)
    if failure is not None:
        raise failure
    return proc


_OUT_OF_MEMORY = ("allocate", "failed to map", "qemu_thread_create")


def limit_failure(
    returncode: int, stderr: str, action: str, memory_bytes: int, cpu_seconds: int | None
) -> OperationFailed | None:
    """The error for a qemu-img that a limit (or a signal) stopped; None for anything else."""
    memory = f"its memory limit of {format_size(memory_bytes)}"
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return OperationFailed(f"cannot {action}: qemu-img was killed by signal {-returncode}")
        if cpu_seconds is not None and sig in (signal.SIGXCPU, signal.SIGKILL):
            return OperationFailed(
                f"cannot {action}: qemu-img used up its CPU limit of {cpu_seconds} s and was "
                f"stopped ({sig.name}); the image may be crafted to keep qemu-img busy"
            )
        maybe = f", perhaps at {memory}" if sig in (signal.SIGABRT, signal.SIGSEGV) else ""
        return OperationFailed(
            f"cannot {action}: qemu-img was killed by {sig.name}{maybe} ({last_line(stderr)})"
        )
    if returncode != 0 and any(word in stderr.lower() for word in _OUT_OF_MEMORY):
        return OperationFailed(
            f"cannot {action}: qemu-img ran out of {memory} ({last_line(stderr)}); "
            "the image may be crafted to make qemu-img allocate too much"
        )
    return None


def last_line(text: str) -> str:
    """qemu-img's last line of complaint (its error message)."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else "qemu-img failed"
