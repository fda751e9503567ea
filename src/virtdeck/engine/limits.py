"""What a host can ever give a VM: its memory and the hypervisor's vCPU limit.

Asking for more is refused up front with the limit in the message, instead
of a define that succeeds and a start that fails (or an OOM later).
"""

from __future__ import annotations

from typing import Any

import libvirt

from virtdeck.errors import InvalidInput, VirtdeckError
from virtdeck.host.connection import Host
from virtdeck.model import format_size

# Below this no guest kernel boots; a typo like '--memory 16' (MiB) for 16G.
MIN_MEMORY_BYTES = 16 * 2**20


def host_memory_bytes(host: Host) -> int:
    def read(conn: Any) -> int:
        # The kernel's MemTotal; getInfo()'s figure (MiB) comes from the NUMA
        # topology, which some virtual hosts report smaller than the memory.
        try:
            stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
            return int(stats["total"]) * 1024
        except (libvirt.libvirtError, KeyError):
            return int(conn.getInfo()[1]) * 2**20

    return int(host.call("read the host's memory", read))


def max_vcpus(host: Host, domain_type: str) -> int | None:
    def read(conn: Any) -> int:
        return int(conn.getMaxVcpus(domain_type))

    try:
        return host.call("read the vCPU limit", read)
    except VirtdeckError:
        return None  # drivers without the call: libvirt checks at define time


def check_memory(host: Host, size_bytes: int, option: str) -> None:
    total = host_memory_bytes(host)
    if size_bytes > total:
        raise InvalidInput(
            f"{option} {format_size(size_bytes)} is more than this host has "
            f"({format_size(total)}); give at most {format_size(total)}"
        )


def check_vcpus(host: Host, count: int, domain_type: str, option: str) -> None:
    limit = max_vcpus(host, domain_type)
    if limit is not None and count > limit:
        raise InvalidInput(
            f"{option} {count} is more than a '{domain_type}' VM can have on this host "
            f"({limit}); give at most {limit}"
        )
