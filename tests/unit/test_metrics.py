"""``/metrics`` on libvirt's test driver: the exposition says what libvirt says.

The test driver reports only the state group of the bulk statistics call;
the groups it leaves out must leave their metrics out (never a made-up 0),
which the tests check against libvirt's own answer, so they keep holding
when the driver learns more.
"""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tests.unit.test_operations import create_request

from virtdeck.api.metrics import UNMATCHED_ROUTE, ApiMetrics, render
from virtdeck.engine import Engine
from virtdeck.errors import InvalidInput
from virtdeck.host import stats
from virtdeck.settings import Settings

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(metrics: ApiMetrics) -> Samples:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    matching = [v for have, v in samples.get(name, []) if labels.items() <= have.items()]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


def test_vm_and_host_metrics_match_libvirt(engine: Engine) -> None:
    samples = scrape(ApiMetrics(engine.metrics))
    conn = engine.host.conn
    dom = conn.lookupByName("test")
    uuid = dom.UUIDString()
    assert value(samples, "virtdeck_up", host="local") == 1
    assert value(samples, "virtdeck_vm_state", vm="test", uuid=uuid, host="local") == 1
    [(labels, _one)] = [s for s in samples["virtdeck_vm_state"] if s[0]["vm"] == "test"]
    assert labels["state"] == "running" and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert value(samples, "virtdeck_vms", state="running") == len(
        conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING)
    )
    info = conn.getInfo()
    assert value(samples, "virtdeck_host_cpus") == info[2]
    assert value(samples, "virtdeck_host_memory_total_bytes") == info[1] * 2**20
    for mode, ns in conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0).items():
        assert value(samples, "virtdeck_host_cpu_seconds_total", mode=mode) == pytest.approx(
            ns / 1e9
        )
    # What the bulk call reports, and only that, is there.
    [(_dom, record)] = [
        (d, r)
        for d, r in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_CPU_TOTAL, 0)
        if d.name() == "test"
    ]
    cpu = [
        v for have, v in samples.get("virtdeck_vm_cpu_seconds_total", []) if have["vm"] == "test"
    ]
    assert cpu == ([record["cpu.time"] / 1e9] if "cpu.time" in record else [])


def test_groups_the_driver_lacks_are_absent_not_zero(engine: Engine) -> None:
    conn = engine.host.conn
    [record] = [r for d, r in conn.getAllDomainStats(0, 0) if d.name() == "test"]
    [vm] = [v for v in stats.vm_stats(engine.host) if v.name == "test"]
    assert vm.state == "running"
    assert vm.cpu_time_ns == record.get("cpu.time")
    assert vm.vcpus_current == record.get("vcpu.current")
    assert vm.balloon_rss_kib == record.get("balloon.rss")
    assert len(vm.disks) == record.get("block.count", 0)
    assert len(vm.nics) == record.get("net.count", 0)
    samples = scrape(ApiMetrics(engine.metrics))
    for name, key in (
        ("virtdeck_vm_vcpus", "vcpu.current"),
        ("virtdeck_vm_memory_rss_bytes", "balloon.rss"),
        ("virtdeck_vm_balloon_current_bytes", "balloon.current"),
    ):
        got = [v for have, v in samples.get(name, []) if have["vm"] == "test"]
        assert got == (
            [record[key] * (1 if key.startswith("vcpu") else 1024)] if key in record else []
        )


def test_operations_by_state(engine: Engine, disk: Path) -> None:
    metrics = ApiMetrics(engine.metrics)
    before = scrape(metrics)
    for state in ("running", "succeeded", "failed", "interrupted"):
        assert value(before, "virtdeck_operations", state=state) == 0
    try:
        engine.create_vm(create_request("metrics-op", disk))
        with pytest.raises(InvalidInput):  # more memory than the host has: a failed operation
            engine.create_vm(create_request("metrics-op2", disk, memory_bytes=2**50))
    finally:
        engine.delete_vm("metrics-op", keep_disks=True)
    after = scrape(metrics)
    assert {
        state: value(after, "virtdeck_operations", state=state)
        for state in ("running", "succeeded", "failed", "interrupted")
    } == {"running": 0, "succeeded": 1, "failed": 1, "interrupted": 0}
    assert engine.ctx.operation_store.count_by_state(engine.ctx.host_id) == {
        "succeeded": 1,
        "failed": 1,
    }


def test_api_requests_are_counted_by_route_template(engine: Engine) -> None:
    metrics = ApiMetrics(engine.metrics)
    metrics.observe_request("get", "/api/v1/vms/{name}", 200, 0.004)
    metrics.observe_request("GET", "/api/v1/vms/{name}", 200, 0.2)
    metrics.observe_request("POST", "/api/v1/vms/{name}/start", 409, 0.03)
    metrics.observe_request("GET", None, 404, 0.001)
    samples = scrape(metrics)
    total = "virtdeck_api_requests_total"
    assert value(samples, total, method="GET", route="/api/v1/vms/{name}", status="200") == 2
    assert value(samples, total, method="POST", status="409") == 1
    assert value(samples, total, route=UNMATCHED_ROUTE, status="404") == 1
    seconds = "virtdeck_api_request_seconds"
    assert value(samples, f"{seconds}_count", route="/api/v1/vms/{name}") == 2
    assert value(samples, f"{seconds}_sum", route="/api/v1/vms/{name}") == pytest.approx(0.204)
    assert value(samples, f"{seconds}_bucket", route="/api/v1/vms/{name}", le="0.005") == 1
    # Each app has its registry: nothing went to the process-wide one.
    assert REGISTRY.get_sample_value(total, {"method": "GET"}) is None
    assert "virtdeck_api_requests_total" not in scrape(ApiMetrics(engine.metrics))
    body, content_type = render(metrics.registry)
    assert content_type == CONTENT_TYPE_LATEST
    assert b'virtdeck_api_requests_total{method="POST"' in body


def test_a_host_that_does_not_answer_is_up_0(tmp_path: Path) -> None:
    engine = Engine(Settings(uri="test:///no/such/file.xml", data_dir=tmp_path / "data"))
    try:
        samples = scrape(ApiMetrics(engine.metrics))
    finally:
        engine.close()
    assert value(samples, "virtdeck_up", host="local") == 0
    assert "virtdeck_vm_state" not in samples
