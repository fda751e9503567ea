"""Metrics of a real, running appliance VM: its counters come from QEMU and grow."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import IsolatedNet, appliance_request
from virtdeck.api.metrics import ApiMetrics
from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmMetrics


def vm_of(engine: Engine, name: str) -> VmMetrics:
    [vm] = [v for v in engine.metrics().vms if v.name == name]
    return vm


def test_a_running_vms_cpu_time_grows(engine: Engine, test_net: IsolatedNet, vm_name: str) -> None:
    made = engine.create_vm(appliance_request(vm_name, test_net))
    first = vm_of(engine, vm_name)
    assert (first.uuid, first.state) == (made.uuid, "running")
    assert first.cpu_time_ns is not None and first.vcpus == made.vcpus
    assert first.max_vcpus == 3 and first.rss_kib
    assert first.balloon_kib == made.memory_kib
    assert [d.name for d in first.disks][:1] == ["vda"]
    assert len(first.nics) == 1
    deadline = time.monotonic() + 30
    while True:  # the guest boots: QEMU spends CPU on it
        time.sleep(0.5)
        later = vm_of(engine, vm_name)
        assert later.cpu_time_ns is not None
        if later.cpu_time_ns > first.cpu_time_ns:
            break
        assert time.monotonic() < deadline, "the VM's CPU time did not grow within 30 s"
    # libvirt's own number for the VM, read after the scrape, is no smaller.
    body, _type = ApiMetrics(engine.metrics).render()
    after = engine.host.conn.lookupByName(vm_name).info()[4]
    [seconds] = [
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "virtdeck_vm_cpu_seconds_total" and sample.labels["vm"] == vm_name
    ]
    assert later.cpu_time_ns / 1e9 <= seconds <= after / 1e9
