"""Metrics: the host, every VM (one bulk libvirt call) and the operations by state."""

from __future__ import annotations

from datetime import UTC, datetime

from virtdeck.host import stats

from ..context import HostContext
from ..operation_record import FAILED, INTERRUPTED, RUNNING, SUCCEEDED
from ..schemas import DiskMetrics, HostMetrics, MetricsSnapshot, NicMetrics, VmMetrics

OPERATION_STATES = (RUNNING, SUCCEEDED, FAILED, INTERRUPTED)


def vm_metrics(vm: stats.VmStats) -> VmMetrics:
    return VmMetrics(
        name=vm.name,
        uuid=vm.uuid,
        state=vm.state,
        cpu_time_ns=vm.cpu_time_ns,
        vcpus=vm.vcpus_current,
        max_vcpus=vm.vcpus_max,
        balloon_kib=vm.balloon_current_kib,
        max_balloon_kib=vm.balloon_maximum_kib,
        rss_kib=vm.balloon_rss_kib,
        disks=[
            DiskMetrics(
                name=d.name,
                read_bytes=d.read_bytes,
                write_bytes=d.write_bytes,
                read_requests=d.read_requests,
                write_requests=d.write_requests,
            )
            for d in vm.disks
        ],
        nics=[
            NicMetrics(
                name=n.name,
                rx_bytes=n.rx_bytes,
                tx_bytes=n.tx_bytes,
                rx_packets=n.rx_packets,
                tx_packets=n.tx_packets,
            )
            for n in vm.nics
        ],
    )


class MetricsService:
    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.host = ctx.host

    def snapshot(self) -> MetricsSnapshot:
        """Everything ``/metrics`` shows, read now: four libvirt calls and one query."""
        host = stats.host_stats(self.host)
        vms = stats.vm_stats(self.host)
        counts = dict.fromkeys(OPERATION_STATES, 0)
        counts.update(self.ctx.operation_store.count_by_state(self.ctx.host_id))
        return MetricsSnapshot(
            taken_at=datetime.now(UTC),
            host=HostMetrics(
                host=self.ctx.host_id,
                uri=self.host.uri,
                cpus=host.cpus,
                memory_total_kib=host.memory_total_kib,
                memory_free_kib=host.memory_free_kib,
                cpu_time_ns=dict(host.cpu_time_ns),
            ),
            vms=[vm_metrics(vm) for vm in vms],
            operations=counts,
        )
