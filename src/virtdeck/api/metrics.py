"""``/metrics``: the engine's snapshot and the API's own requests, as Prometheus exposition.

``ApiMetrics`` owns a ``CollectorRegistry`` of its own (never the global
one, so two apps in one process, as in tests, do not share counters). Its
``EngineCollector`` asks the engine for one ``MetricsSnapshot`` per scrape
and turns it into metric families; the request counter and latency
histogram are fed by the app's middleware through ``observe_request``,
with the route's template (``/api/v1/vms/{name}``) as its label, never the
raw path, whose values have no bound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from virtdeck.engine.schemas import MetricsSnapshot, VmMetrics
from virtdeck.errors import VirtdeckError

log = logging.getLogger(__name__)

PREFIX = "virtdeck_"
VM_LABELS = ("host", "vm", "uuid")
# The label of a request that matched no route (a 404): one value, not its path.
UNMATCHED_ROUTE = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
KIB = 1024
NS = 1e9


class _Families:
    """Metric families by name, made on first use, yielded in the order made."""

    def __init__(self) -> None:
        self._made: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

    def gauge(self, name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
        family = self._made.get(name)
        if family is None:
            family = self._made[name] = GaugeMetricFamily(PREFIX + name, doc, labels=labels)
        assert isinstance(family, GaugeMetricFamily)
        return family

    def counter(self, name: str, doc: str, labels: Sequence[str]) -> CounterMetricFamily:
        family = self._made.get(name)
        if family is None:
            family = self._made[name] = CounterMetricFamily(PREFIX + name, doc, labels=labels)
        assert isinstance(family, CounterMetricFamily)
        return family

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._made.values())


def _vm_families(out: _Families, host: str, vm: VmMetrics) -> None:
    who = [host, vm.name, vm.uuid]
    state = out.gauge("vm_state", "The VM's state (1 for the one it is in).", [*VM_LABELS, "state"])
    state.add_metric([*who, vm.state], 1)
    if vm.cpu_time_ns is not None:
        out.counter("vm_cpu_seconds", "CPU time the VM used.", VM_LABELS).add_metric(
            who, vm.cpu_time_ns / NS
        )
    gauges = (
        ("vm_vcpus", "vCPUs the VM has now.", vm.vcpus, 1),
        ("vm_vcpus_max", "vCPUs the VM can have.", vm.max_vcpus, 1),
        ("vm_balloon_current_bytes", "Memory the balloon gives the VM.", vm.balloon_kib, KIB),
        ("vm_balloon_maximum_bytes", "Memory the balloon can give.", vm.max_balloon_kib, KIB),
        ("vm_memory_rss_bytes", "Resident memory of the VM's process.", vm.rss_kib, KIB),
    )
    for name, doc, value, unit in gauges:
        if value is not None:
            out.gauge(name, doc, VM_LABELS).add_metric(who, value * unit)
    disk_labels = [*VM_LABELS, "disk"]
    for disk in vm.disks:
        for name, doc, value in (
            ("vm_disk_read_bytes", "Bytes read from the disk.", disk.read_bytes),
            ("vm_disk_write_bytes", "Bytes written to the disk.", disk.write_bytes),
            ("vm_disk_read_requests", "Read requests to the disk.", disk.read_requests),
            ("vm_disk_write_requests", "Write requests to the disk.", disk.write_requests),
        ):
            if value is not None:
                out.counter(name, doc, disk_labels).add_metric([*who, disk.name], value)
    nic_labels = [*VM_LABELS, "interface"]
    for nic in vm.nics:
        for name, doc, value in (
            ("vm_network_receive_bytes", "Bytes the VM received.", nic.rx_bytes),
            ("vm_network_transmit_bytes", "Bytes the VM sent.", nic.tx_bytes),
            ("vm_network_receive_packets", "Packets the VM received.", nic.rx_packets),
            ("vm_network_transmit_packets", "Packets the VM sent.", nic.tx_packets),
        ):
            if value is not None:
                out.counter(name, doc, nic_labels).add_metric([*who, nic.name], value)


def families(snapshot: MetricsSnapshot) -> list[Metric]:
    """The snapshot as Prometheus metric families."""
    out = _Families()
    host = snapshot.host
    labels = [host.host]
    out.gauge("up", "1 when libvirt on the host answered this scrape.", ["host"]).add_metric(
        labels, 1
    )
    out.gauge("host_cpus", "CPUs of the host.", ["host"]).add_metric(labels, host.cpus)
    out.gauge("host_memory_total_bytes", "Memory of the host.", ["host"]).add_metric(
        labels, host.memory_total_kib * KIB
    )
    if host.memory_free_kib is not None:
        out.gauge("host_memory_free_bytes", "Free memory of the host.", ["host"]).add_metric(
            labels, host.memory_free_kib * KIB
        )
    cpu = out.counter("host_cpu_seconds", "CPU time of all host CPUs by mode.", ["host", "mode"])
    for mode, ns in sorted(host.cpu_time_ns.items()):
        cpu.add_metric([host.host, mode], ns / NS)
    by_state: dict[str, int] = {}
    for vm in snapshot.vms:
        by_state[vm.state] = by_state.get(vm.state, 0) + 1
    vms = out.gauge("vms", "VMs on the host by state.", ["host", "state"])
    for state, count in sorted(by_state.items()):
        vms.add_metric([host.host, state], count)
    for vm in snapshot.vms:
        _vm_families(out, host.host, vm)
    ops = out.gauge("operations", "Operations of the host by state.", ["host", "state"])
    for state, count in sorted(snapshot.operations.items()):
        ops.add_metric([host.host, state], count)
    return list(out)


class EngineCollector(Collector):
    """One engine snapshot per scrape; a host that does not answer is ``virtdeck_up 0``."""

    def __init__(self, snapshot: Callable[[], MetricsSnapshot], host: str = "local") -> None:
        self._snapshot = snapshot
        self._host = host

    def collect(self) -> Iterable[Metric]:
        try:
            snapshot = self._snapshot()
        except VirtdeckError as exc:
            log.warning("metrics: %s", exc.message)
            up = GaugeMetricFamily(
                PREFIX + "up", "1 when libvirt on the host answered this scrape.", labels=["host"]
            )
            up.add_metric([self._host], 0)
            return [up]
        return families(snapshot)


class ApiMetrics:
    """The registry ``/metrics`` renders: the engine's collector and the API's requests."""

    def __init__(self, snapshot: Callable[[], MetricsSnapshot], host: str = "local") -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            PREFIX + "api_requests",
            "API requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            PREFIX + "api_request_seconds",
            "Time to answer an API request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(EngineCollector(snapshot, host))

    def observe_request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one answered request; ``route`` is its template, None when none matched."""
        template = route or UNMATCHED_ROUTE
        self.requests.labels(method.upper(), template, str(status)).inc()
        self.latency.labels(method.upper(), template).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return render(self.registry)


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus text format, and the content type to send it with."""
    return _generate_latest(registry), CONTENT_TYPE_LATEST
