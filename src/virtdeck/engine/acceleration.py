"""Choose kvm or qemu (TCG) for new VMs, from a cached functional probe.

The probe boots a kernel (seconds, and up to its timeout when KVM hangs),
so its result is cached per host in the data dir and probed again only when
something it depends on changed: a reboot, another QEMU, another kernel.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from virtdeck.host.kvmprobe import KvmProbe, find_probe_kernel, find_qemu, probe_kvm
from virtdeck.settings import Settings

from .schemas import Acceleration


def _fingerprint(settings: Settings) -> str:
    parts = [os.uname().release]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    except OSError:
        parts.append("no-boot-id")
    for path in (find_qemu(), find_probe_kernel(settings.appliance_dir), "/dev/kvm"):
        if path and os.path.exists(path):
            st = os.stat(path)
            parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
        else:
            parts.append(f"{path}:missing")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _cache_path(settings: Settings) -> Path:
    key = hashlib.sha256(settings.uri.encode()).hexdigest()[:16]
    return settings.data_dir / "probes" / f"kvm-{key}.json"


def cached_probe(settings: Settings, refresh: bool = False) -> tuple[KvmProbe, bool]:
    """(probe result, whether it came from the cache)."""
    path = _cache_path(settings)
    fingerprint = _fingerprint(settings)
    if not refresh:
        try:
            saved = json.loads(path.read_text())
            if saved.get("fingerprint") == fingerprint:
                return KvmProbe(**saved["probe"]), True
        except (OSError, ValueError, TypeError, KeyError):
            pass
    probe = probe_kvm(settings.appliance_dir, settings.kvm_probe_timeout)
    # A probe that could not run at all (no kernel yet) is not worth keeping.
    if probe.kernel is not None or not os.path.exists("/dev/kvm"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"fingerprint": fingerprint, "probe": asdict(probe)}))
        except OSError:
            pass  # an unwritable data dir only costs a probe next time
    return probe, False


def choose(settings: Settings, is_local: bool, refresh: bool = False) -> Acceleration:
    if settings.domain_type != "auto":
        mode = "host-passthrough" if settings.domain_type == "kvm" else None
        return Acceleration(
            domain_type=settings.domain_type,
            cpu_mode=mode,
            reason="set by --domain-type / VIRTDECK_DOMAIN_TYPE",
            source="override",
        )
    if not is_local:
        # A remote host cannot be probed from here; its libvirt knows best.
        return Acceleration(
            domain_type="kvm",
            cpu_mode="host-passthrough",
            reason="remote host: assumed KVM",
            source="override",
        )
    probe, from_cache = cached_probe(settings, refresh)
    source: Literal["cache", "probe"] = "cache" if from_cache else "probe"
    if probe.functional:
        return Acceleration(
            domain_type="kvm", cpu_mode=probe.cpu_mode, reason=probe.detail, source=source
        )
    return Acceleration(
        domain_type="qemu",
        cpu_mode=None,
        reason="KVM cannot run a Linux guest here (see kvm-functional); software emulation",
        source=source,
    )
