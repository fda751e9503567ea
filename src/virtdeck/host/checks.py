"""Host checks: can this machine run virtual machines, and how well?

Each check returns a ``Finding``: ok, warn or fail, one line of what was
seen, and for anything not ok one line of what to do. Checks that read this
machine's /proc and /sys run only when the libvirt URI is local.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from virtdeck.errors import VirtdeckError

from .connection import Host
from .kvmprobe import KvmProbe

Status = Literal["ok", "warn", "fail"]
GIB = 2**30


@dataclass
class Finding:
    name: str
    status: Status
    summary: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def check_cpu_flags(cpuinfo: str | None = None) -> Finding:
    text = cpuinfo if cpuinfo is not None else (_read("/proc/cpuinfo") or "")
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    if "vmx" in flags:
        return Finding("cpu-flags", "ok", "CPU has Intel VT-x (vmx)", data={"flag": "vmx"})
    if "svm" in flags:
        return Finding("cpu-flags", "ok", "CPU has AMD-V (svm)", data={"flag": "svm"})
    return Finding(
        "cpu-flags",
        "warn",
        "CPU shows no vmx or svm flag: no hardware virtualization is exposed",
        "enable VT-x/AMD-V in the firmware, or nested virtualization on the outer hypervisor",
    )


def qemu_user() -> str:
    """The user libvirt runs QEMU as (qemu.conf 'user', Debian's default otherwise)."""
    conf = _read("/etc/libvirt/qemu.conf") or ""
    match = re.search(r'^\s*user\s*=\s*"([^"]+)"', conf, re.MULTILINE)
    if match:
        return match.group(1).lstrip("+")
    for candidate in ("libvirt-qemu", "qemu"):
        try:
            pwd.getpwnam(candidate)
            return candidate
        except KeyError:
            continue
    return "root"


def _user_can_open(path: str, user: str) -> bool:
    st = os.stat(path)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    if entry.pw_uid == 0:
        return True
    groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {entry.pw_gid}
    mode = st.st_mode
    if st.st_uid == entry.pw_uid:
        return bool(mode & stat.S_IRUSR and mode & stat.S_IWUSR)
    if st.st_gid in groups:
        return bool(mode & stat.S_IRGRP and mode & stat.S_IWGRP)
    return bool(mode & stat.S_IROTH and mode & stat.S_IWOTH)


def check_dev_kvm() -> list[Finding]:
    if not os.path.exists("/dev/kvm"):
        return [
            Finding(
                "dev-kvm",
                "warn",
                "/dev/kvm does not exist",
                "load kvm_intel or kvm_amd (modprobe) where the CPU supports it",
            )
        ]
    found = [Finding("dev-kvm", "ok", "/dev/kvm exists")]
    user = qemu_user()
    if _user_can_open("/dev/kvm", user):
        found.append(Finding("kvm-access", "ok", f"QEMU's user '{user}' can open /dev/kvm"))
    else:
        found.append(
            Finding(
                "kvm-access",
                "warn",
                f"QEMU's user '{user}' cannot open /dev/kvm",
                f"chgrp kvm /dev/kvm && chmod 0660 /dev/kvm, and add '{user}' to group kvm",
            )
        )
    return found


def check_kvm_functional(probe: KvmProbe) -> Finding:
    if probe.functional:
        return Finding(
            "kvm-functional",
            "ok",
            f"KVM runs a Linux guest ({probe.detail})",
            data={"cpu_mode": probe.cpu_mode},
        )
    return Finding(
        "kvm-functional",
        "warn",
        f"KVM is not usable for a Linux guest here: {probe.detail}; "
        "virtdeck runs guests under TCG (domain type 'qemu', software emulation, slower)",
        "fix KVM on this host (nested virtualization with full CPU features) to run guests "
        "at native speed",
        data={"detail": probe.detail, "kernel": probe.kernel},
    )


def check_libvirt(host: Host) -> Finding:
    try:
        libvirt_version, hv_version = host.versions()
        hostname = host.call("read the host name", lambda c: c.getHostname())
    except VirtdeckError as exc:
        return Finding(
            "libvirtd",
            "fail",
            exc.message,
            "start libvirtd ('virtlogd -d && libvirtd -d') or pass another --connect",
        )
    return Finding(
        "libvirtd",
        "ok",
        f"libvirtd reachable at {host.uri} on {hostname}: libvirt {libvirt_version}, "
        f"hypervisor {hv_version}",
        data={"libvirt": libvirt_version, "hypervisor": hv_version, "hostname": hostname},
    )


def pool_path(host: Host, name: str = "default") -> str | None:
    def lookup(conn: Any) -> str | None:
        pool = conn.storagePoolLookupByName(name)
        node = etree.fromstring(pool.XMLDesc(0).encode()).find("target/path")
        return None if node is None else node.text

    try:
        return host.call(f"look up storage pool {name}", lookup)
    except VirtdeckError:
        return None


def check_default_pool(host: Host) -> Finding:
    def info(conn: Any) -> tuple[bool, bool]:
        pool = conn.storagePoolLookupByName("default")
        return bool(pool.isActive()), bool(pool.autostart())

    try:
        active, autostart = host.call("look up storage pool default", info)
    except VirtdeckError:
        return Finding(
            "default-pool",
            "warn",
            "no storage pool named 'default'",
            "virtdeck creates it on first use; or: virsh pool-define-as default dir "
            "--target /var/lib/libvirt/images && virsh pool-start default",
        )
    if not active:
        return Finding(
            "default-pool",
            "warn",
            "storage pool 'default' is not running",
            "virsh pool-start default && virsh pool-autostart default",
        )
    path = pool_path(host)
    note = "" if autostart else " (not autostarted)"
    return Finding("default-pool", "ok", f"storage pool 'default' is active at {path}{note}")


def check_default_network(host: Host) -> Finding:
    def info(conn: Any) -> tuple[bool, bool]:
        net = conn.networkLookupByName("default")
        return bool(net.isActive()), bool(net.autostart())

    try:
        active, autostart = host.call("look up network default", info)
    except VirtdeckError:
        return Finding(
            "default-network",
            "warn",
            "no libvirt network named 'default'",
            "define one (virsh net-define /usr/share/libvirt/networks/default.xml) "
            "or give VMs --network NAME",
        )
    if not active:
        return Finding(
            "default-network",
            "warn",
            "network 'default' is defined but not running",
            "virsh net-start default && virsh net-autostart default",
        )
    note = "" if autostart else " (not autostarted)"
    return Finding("default-network", "ok", f"network 'default' is active{note}")


def check_nested() -> Finding:
    for module in ("kvm_intel", "kvm_amd"):
        value = _read(f"/sys/module/{module}/parameters/nested")
        if value is not None:
            enabled = value in ("Y", "1")
            return Finding(
                "nested",
                "ok",
                f"nested virtualization is {'on' if enabled else 'off'} ({module})",
                data={"enabled": enabled},
            )
    return Finding(
        "nested",
        "ok",
        "nested virtualization: not applicable (no kvm_intel/kvm_amd)",
        data={"enabled": False},
    )


def check_iommu() -> Finding:
    groups = Path("/sys/kernel/iommu_groups")
    count = len(list(groups.iterdir())) if groups.is_dir() else 0
    if count:
        return Finding("iommu", "ok", f"IOMMU is on ({count} groups): PCI passthrough possible")
    return Finding(
        "iommu",
        "warn",
        "no IOMMU groups: PCI device passthrough is not possible",
        "enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on or amd_iommu=on",
    )


def _bracketed(value: str | None) -> str | None:
    if value is None:
        return None
    match = re.search(r"\[(\w+)\]", value)
    return match.group(1) if match else value


def check_memory_features() -> list[Finding]:
    ksm = _read("/sys/kernel/mm/ksm/run")
    thp = _bracketed(_read("/sys/kernel/mm/transparent_hugepage/enabled"))
    found = []
    if ksm is None:
        found.append(Finding("ksm", "ok", "KSM: not built into this kernel"))
    else:
        state = {"0": "off", "1": "on", "2": "off (unmerged)"}.get(ksm, ksm)
        found.append(Finding("ksm", "ok", f"KSM (same-page merging) is {state}", data={"run": ksm}))
    if thp is None:
        found.append(Finding("thp", "ok", "transparent hugepages: not available"))
    else:
        found.append(Finding("thp", "ok", f"transparent hugepages: {thp}", data={"mode": thp}))
    return found


def check_images_space(path: Path) -> Finding:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
    except OSError as exc:
        return Finding(
            "images-space",
            "fail",
            f"cannot read {path}: {exc.strerror}",
            "create the directory or set VIRTDECK_IMAGES_DIR",
        )
    free = st.f_bavail * st.f_frsize
    data = {"path": str(path), "free_bytes": free}
    writable = os.access(probe, os.W_OK)
    if not writable:
        return Finding(
            "images-space",
            "fail",
            f"{path} is not writable",
            "make it writable for root or set VIRTDECK_IMAGES_DIR",
            data,
        )
    summary = f"{free / GIB:.1f} GiB free in {path}"
    if free < GIB:
        return Finding("images-space", "fail", summary, "free disk space where images live", data)
    if free < 10 * GIB:
        return Finding("images-space", "warn", summary, "free disk space where images live", data)
    return Finding("images-space", "ok", summary, data=data)


def run_checks(host: Host, images_dir: Path, kvm_probe: Callable[[], KvmProbe]) -> list[Finding]:
    findings = [check_libvirt(host)]
    libvirt_ok = findings[0].status == "ok"
    if host.is_local and not host.is_test_driver:
        findings.append(check_cpu_flags())
        findings.extend(check_dev_kvm())
        findings.append(check_kvm_functional(kvm_probe()))
        findings.append(check_nested())
        findings.append(check_iommu())
        findings.extend(check_memory_features())
        path = Path(pool_path(host) or images_dir) if libvirt_ok else images_dir
        findings.append(check_images_space(path))
    if libvirt_ok:
        findings.append(check_default_pool(host))
        findings.append(check_default_network(host))
    return findings
