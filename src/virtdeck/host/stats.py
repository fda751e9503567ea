"""Statistics of a host and all its VMs, from one bulk libvirt call.

``vm_stats`` asks libvirt once (``virConnectGetAllDomainStats``) for the
state, CPU time, vCPUs, balloon, disk and network counters of every VM, as
``virsh domstats`` does; ``host_stats`` reads the few host figures that cost
one call each. A group a driver does not report (the test driver reports
only the state) leaves its fields ``None`` and its lists empty: nothing is
made up, and nothing is asked of each VM one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libvirt

from .connection import Host
from .handle import DomainStateName, state_name

_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_BLOCK
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
)
# Only what a VM can answer at once: a VM busy with a long job (a migration,
# a stuck monitor) leaves out what it cannot say instead of holding up all.
_NOWAIT = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
_REFUSED_FLAG = (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT)


@dataclass(frozen=True)
class DiskStats:
    name: str  # the target (vda)
    path: str | None
    read_bytes: int | None
    write_bytes: int | None
    read_requests: int | None
    write_requests: int | None


@dataclass(frozen=True)
class NicStats:
    name: str  # the host side of the interface (vnet0)
    rx_bytes: int | None
    tx_bytes: int | None
    rx_packets: int | None
    tx_packets: int | None


@dataclass(frozen=True)
class VmStats:
    name: str
    uuid: str
    state: DomainStateName
    cpu_time_ns: int | None
    vcpus_current: int | None
    vcpus_max: int | None
    balloon_current_kib: int | None
    balloon_maximum_kib: int | None
    balloon_rss_kib: int | None
    disks: tuple[DiskStats, ...]
    nics: tuple[NicStats, ...]


@dataclass(frozen=True)
class HostStats:
    cpus: int
    memory_total_kib: int
    memory_free_kib: int | None
    # Nanoseconds all CPUs spent per mode since boot (kernel, user, idle, iowait).
    cpu_time_ns: dict[str, int]


def _int(record: dict[str, Any], key: str) -> int | None:
    value = record.get(key)
    return int(value) if value is not None else None


def _disks(record: dict[str, Any]) -> tuple[DiskStats, ...]:
    found = []
    for i in range(int(record.get("block.count", 0))):
        prefix = f"block.{i}."
        found.append(
            DiskStats(
                name=str(record.get(prefix + "name") or f"block{i}"),
                path=record.get(prefix + "path"),
                read_bytes=_int(record, prefix + "rd.bytes"),
                write_bytes=_int(record, prefix + "wr.bytes"),
                read_requests=_int(record, prefix + "rd.reqs"),
                write_requests=_int(record, prefix + "wr.reqs"),
            )
        )
    return tuple(found)


def _nics(record: dict[str, Any]) -> tuple[NicStats, ...]:
    found = []
    for i in range(int(record.get("net.count", 0))):
        prefix = f"net.{i}."
        found.append(
            NicStats(
                name=str(record.get(prefix + "name") or f"net{i}"),
                rx_bytes=_int(record, prefix + "rx.bytes"),
                tx_bytes=_int(record, prefix + "tx.bytes"),
                rx_packets=_int(record, prefix + "rx.pkts"),
                tx_packets=_int(record, prefix + "tx.pkts"),
            )
        )
    return tuple(found)


def parse_record(name: str, uuid: str, record: dict[str, Any]) -> VmStats:
    """One VM's typed statistics from libvirt's flat record (``cpu.time``, ``block.0.name``)."""
    return VmStats(
        name=name,
        uuid=uuid,
        state=state_name(int(record.get("state.state", -1))),
        cpu_time_ns=_int(record, "cpu.time"),
        vcpus_current=_int(record, "vcpu.current"),
        vcpus_max=_int(record, "vcpu.maximum"),
        balloon_current_kib=_int(record, "balloon.current"),
        balloon_maximum_kib=_int(record, "balloon.maximum"),
        balloon_rss_kib=_int(record, "balloon.rss"),
        disks=_disks(record),
        nics=_nics(record),
    )


def vm_stats(host: Host) -> list[VmStats]:
    """Every VM's statistics, in one call to libvirtd."""

    def read(conn: Any) -> list[tuple[Any, dict[str, Any]]]:
        try:
            return list(conn.getAllDomainStats(_GROUPS, _NOWAIT))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in _REFUSED_FLAG:
                raise
            return list(conn.getAllDomainStats(_GROUPS, 0))  # libvirt before 4.5

    found = host.call("read the statistics of the VMs", read)
    return [parse_record(str(d.name()), str(d.UUIDString()), rec) for d, rec in found]


def _optional(conn: Any, fn: str, *args: int) -> dict[str, int] | None:
    """``conn.fn(*args)``, or None where the driver does not report it."""
    try:
        return {str(k): int(v) for k, v in getattr(conn, fn)(*args).items()}
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in _REFUSED_FLAG:
            return None
        raise


def host_stats(host: Host) -> HostStats:
    """The host's CPUs, memory and CPU time: three quick calls, nothing per VM."""

    def read(conn: Any) -> HostStats:
        info = conn.getInfo()  # [model, memory MiB, cpus, MHz, nodes, sockets, cores, threads]
        memory = _optional(conn, "getMemoryStats", libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
        cpu = _optional(conn, "getCPUStats", libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0)
        if memory is not None and "total" in memory:
            total, free = memory["total"], memory.get("free")
        else:
            total, free = int(info[1]) * 1024, int(conn.getFreeMemory()) // 1024
        return HostStats(
            cpus=int(info[2]),
            memory_total_kib=total,
            memory_free_kib=free,
            cpu_time_ns={k: v for k, v in (cpu or {}).items() if k != "utilization"},
        )

    return host.call("read the host's statistics", read)
