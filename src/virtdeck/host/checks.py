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
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from virtdeck.errors import VirtdeckError
from virtdeck.model import StoragePool

from .connection import Host
from .kvmprobe import KvmProbe

Status = Literal["ok", "warn", "fail"]
GIB = 2**30
QEMU_CONF = "/etc/libvirt/qemu.conf"
DEV_KVM = "/dev/kvm"
VIRTLOCKD_SOCK = "/run/libvirt/virtlockd-sock"


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


def qemu_user(qemu_conf: str | None = None) -> str:
    """The user libvirt runs QEMU as (qemu.conf 'user', Debian's default otherwise)."""
    conf = qemu_conf if qemu_conf is not None else (_read(QEMU_CONF) or "")
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


@dataclass(frozen=True)
class Identity:
    """A user as the kernel checks it: uid and every group it is in."""

    name: str
    uid: int
    gids: frozenset[int]


def identity_of(user: str) -> Identity | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {entry.pw_gid}
    return Identity(user, entry.pw_uid, frozenset(groups))


def _can_open(st: os.stat_result, who: Identity) -> bool:
    if who.uid == 0:
        return True
    mode = st.st_mode
    if st.st_uid == who.uid:
        return bool(mode & stat.S_IRUSR and mode & stat.S_IWUSR)
    if st.st_gid in who.gids:
        return bool(mode & stat.S_IRGRP and mode & stat.S_IWGRP)
    return bool(mode & stat.S_IROTH and mode & stat.S_IWOTH)


def _owner_of(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group}"


def _kvm_gid() -> int | None:
    try:
        return grp.getgrnam("kvm").gr_gid
    except KeyError:
        return None


def check_dev_kvm(
    path: str = DEV_KVM,
    who: Identity | None = None,
    node: os.stat_result | None = None,
    kvm_gid: int | None = None,
) -> list[Finding]:
    """``dev-kvm`` and ``kvm-access``; ``who`` (QEMU's user) and ``node`` (its stat) injectable.

    A /dev/kvm that QEMU's user cannot open is a fail, not a matter of speed
    only: libvirt then takes KVM as unusable for that user and probes QEMU's
    capabilities again on every define and start (132 s for one
    ``virsh define`` on a nested machine, 0.023 s once QEMU's user could
    open it).
    """
    try:
        st = node if node is not None else os.stat(path)
    except FileNotFoundError:
        return [
            Finding(
                "dev-kvm",
                "warn",
                f"{path} does not exist",
                "load kvm_intel or kvm_amd (modprobe) where the CPU supports it",
            )
        ]
    mode = f"{stat.S_IMODE(st.st_mode):04o}"
    owner = _owner_of(st)
    data = {"mode": mode, "owner": owner}
    found = [Finding("dev-kvm", "ok", f"{path} exists ({mode} {owner})", data=data)]
    if who is None:
        user = qemu_user()
        who = identity_of(user)
    else:
        user = who.name
    if who is not None and _can_open(st, who):
        found.append(
            Finding("kvm-access", "ok", f"QEMU's user '{user}' can open {path}", data=data)
        )
        return found
    if who is None:
        summary = f"QEMU's user '{user}' does not exist, so it cannot open {path}"
        fix = f"create user '{user}' or set 'user' in {QEMU_CONF}, then restart libvirtd"
    else:
        summary = f"QEMU's user '{user}' cannot open {path} ({mode} {owner})"
        gid = _kvm_gid() if kvm_gid is None else kvm_gid
        group_rw = stat.S_IRGRP | stat.S_IWGRP
        if st.st_mode & group_rw == group_rw and st.st_gid not in who.gids:
            group = owner.split(":", 1)[1]
            fix = f"usermod -a -G {group} {user}, then restart libvirtd"
        else:
            fix = f"chgrp kvm {path} && chmod 0660 {path} (what Debian's udev rule does)"
            if gid is not None and gid not in who.gids:
                fix += f", add '{user}' to group kvm (usermod -a -G kvm {user})"
            fix += ", or bash setup.sh demo"
    found.append(
        Finding(
            "kvm-access",
            "fail",
            f"{summary}: libvirt takes KVM as unusable and re-probes QEMU on every define and "
            "start: each takes minutes instead of milliseconds",
            fix,
            data,
        )
    )
    return found


_LOCK_MANAGER = re.compile(r'^[ \t]*lock_manager[ \t]*=[ \t]*"([^"]*)"', re.MULTILINE)


def lock_manager_of(qemu_conf: str) -> str | None:
    """The active ``lock_manager`` of a qemu.conf text (libvirt takes the first), or None."""
    match = _LOCK_MANAGER.search(qemu_conf)
    return match.group(1) if match else None


def _process_named(name: str) -> bool:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                return True
        except OSError:
            continue
    return False


def virtlockd_running(sock_path: str = VIRTLOCKD_SOCK) -> bool:
    """Something accepts connections on virtlockd's socket (virtlockd, or systemd for it)."""
    if not os.path.exists(sock_path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(sock_path)
        except PermissionError:
            # Not root: the socket is root's only; a virtlockd process will do.
            return _process_named("virtlockd")
        except OSError:
            return False  # a socket file left by a virtlockd that is gone
    return True


def check_lock_manager(
    qemu_conf: str | None = None,
    virtlockd: bool | None = None,
    conf_path: str = QEMU_CONF,
) -> Finding:
    """``lock-manager``: libvirt's disk locks through virtlockd; inputs injectable."""
    text = qemu_conf if qemu_conf is not None else (_read(conf_path) or "")
    manager = lock_manager_of(text)
    running = virtlockd if virtlockd is not None else virtlockd_running()
    data = {"lock_manager": manager, "virtlockd": running}
    protects = "QEMU can never open one disk writable from two VMs"
    fix = (
        f'set lock_manager = "lockd" in {conf_path}, start virtlockd (virtlockd -d, or '
        "systemctl start virtlockd) and then restart libvirtd; or bash setup.sh demo"
    )
    if manager == "lockd" and running:
        return Finding(
            "lock-manager",
            "ok",
            f'lock_manager = "lockd" and virtlockd runs: {protects}',
            data=data,
        )
    if manager == "lockd":
        # Not a warning: libvirtd refuses every start while virtlockd is away.
        return Finding(
            "lock-manager",
            "fail",
            f'lock_manager = "lockd" is set but virtlockd is not running ({VIRTLOCKD_SOCK} '
            "does not answer): libvirtd cannot start a VM until it runs",
            "start virtlockd (virtlockd -d, or systemctl start virtlockd); or bash setup.sh demo",
            data,
        )
    if manager is None:
        seen = f"no active lock_manager line in {conf_path}"
    else:
        seen = f'{conf_path} sets lock_manager = "{manager}", not "lockd"'
    return Finding(
        "lock-manager",
        "warn",
        f"libvirt's disk locking through virtlockd is off ({seen}): nothing stops two VMs "
        "from opening one disk writable and corrupting it; with it, "
        f"{protects}",
        fix,
        data,
    )


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
        return StoragePool.from_xml(pool.XMLDesc(0)).target_path

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
        findings.append(check_lock_manager())
        findings.append(check_iommu())
        findings.extend(check_memory_features())
        path = Path(pool_path(host) or images_dir) if libvirt_ok else images_dir
        findings.append(check_images_space(path))
    if libvirt_ok:
        findings.append(check_default_pool(host))
        findings.append(check_default_network(host))
    return findings
