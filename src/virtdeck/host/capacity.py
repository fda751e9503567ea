"""What a host can ever give a VM: its memory and the hypervisor's vCPU limit."""

from __future__ import annotations

from typing import Any

import libvirt

from virtdeck.errors import VirtdeckError

from .connection import Host


def memory_bytes(host: Host) -> int:
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
    """The hypervisor's vCPU limit per VM; None where the driver does not say."""

    def read(conn: Any) -> int:
        return int(conn.getMaxVcpus(domain_type))

    try:
        return host.call("read the vCPU limit", read)
    except VirtdeckError:
        return None  # drivers without the call: libvirt checks at define time
