"""Is KVM really usable here? Boot a Linux kernel under it and see.

A ``/dev/kvm`` that answers its API is not enough: on a nested host with
most CPUID features masked, QEMU can abort on an MSR or a Linux guest can
hang right after its decompressor. The probe boots a real kernel with no
root filesystem under ``-accel kvm``; reaching the kernel's own panic about
the missing root proves that a Linux guest runs. It tries the CPU modes
virtdeck would use for a KVM guest, best first.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# (libvirt <cpu mode>, QEMU -cpu); host-passthrough is the fast one.
CPU_MODES: tuple[tuple[str | None, str], ...] = (("host-passthrough", "host"), (None, "qemu64"))
_REACHED = ("Kernel panic", "VFS: Unable to mount root")


@dataclass(frozen=True)
class KvmProbe:
    functional: bool
    cpu_mode: str | None  # the libvirt CPU mode that worked
    detail: str
    kernel: str | None


def find_qemu() -> str | None:
    for name in ("qemu-system-x86_64", "/usr/libexec/qemu-kvm", "/usr/bin/qemu-kvm"):
        found = shutil.which(name) or (name if os.path.isfile(name) else None)
        if found:
            return found
    return None


def find_probe_kernel(appliance_dir: Path) -> str | None:
    """The appliance's kernel, else one of the host's own."""
    candidates = [str(appliance_dir / "vmlinuz"), f"/boot/vmlinuz-{os.uname().release}"]
    candidates += sorted(glob.glob("/boot/vmlinuz-*"), reverse=True)
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    return None


def _boot(qemu: str, kernel: str, cpu: str, timeout: float) -> tuple[bool, str]:
    cmd = [
        qemu,
        "-accel",
        "kvm",
        "-cpu",
        cpu,
        "-m",
        "128",
        "-nodefaults",
        "-nographic",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        kernel,
        "-append",
        "console=ttyS0 panic=-1 loglevel=4",
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
        output = (proc.stdout + proc.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired:
        return False, f"-cpu {cpu}: the guest kernel hung (no progress in {timeout:.0f} s)"
    took = time.monotonic() - started
    if any(marker in output for marker in _REACHED):
        return True, f"-cpu {cpu}: a Linux kernel booted under KVM in {took:.1f} s"
    last = [line for line in output.strip().splitlines() if line.strip()]
    reason = last[-1].strip() if last else f"QEMU exited with status {proc.returncode}"
    # "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: msg" -> "msg"
    reason = re.sub(r"^\S*qemu\S*: (?:\S+\.c:\d+: )?", "", reason)
    return False, f"-cpu {cpu}: QEMU failed: {reason[:160]}"


def probe_kvm(appliance_dir: Path, timeout: float) -> KvmProbe:
    if not os.path.exists("/dev/kvm"):
        return KvmProbe(False, None, "/dev/kvm does not exist", None)
    qemu = find_qemu()
    if qemu is None:
        return KvmProbe(False, None, "no qemu-system-x86_64 to probe with", None)
    kernel = find_probe_kernel(appliance_dir)
    if kernel is None:
        return KvmProbe(False, None, "no Linux kernel to probe with (build the appliance)", None)
    details = []
    for mode, cpu in CPU_MODES:
        ok, detail = _boot(qemu, kernel, cpu, timeout)
        details.append(detail)
        if ok:
            return KvmProbe(True, mode, detail, kernel)
    return KvmProbe(False, None, "; ".join(details), kernel)
