"""``/events`` over real HTTP (who caused what, within a second) and ``/metrics``."""

from __future__ import annotations

import threading
import time

import httpx
import libvirt
from prometheus_client.parser import text_string_to_metric_families

from tests.service.live_server import LiveServer
from tests.service.vms import TEST_URI, own_vm
from virtdeck.client import HttpEngine
from virtdeck.engine.schemas import VmEvent


def _collect(api: LiveServer, name: str, seconds: float) -> tuple[list[VmEvent], threading.Event]:
    seen: list[VmEvent] = []
    listening = threading.Event()

    def read() -> None:
        client = HttpEngine(api.url, api.admin_token)
        with client.events(name, timeout=seconds) as stream:
            listening.set()
            for event in stream:
                seen.append(event)
        client.close()

    threading.Thread(target=read, daemon=True).start()
    assert listening.wait(10)
    time.sleep(0.3)  # the server registers its callbacks before it answers
    return seen, listening


def _wait_for(seen: list[VmEvent], kind: str, within: float) -> VmEvent:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for event in seen:
            if event.event == kind:
                return event
        time.sleep(0.02)
    raise AssertionError(f"no {kind} event within {within} s: {seen}")


def test_an_api_change_names_its_actor_and_a_virsh_one_none(api: LiveServer) -> None:
    token = api.token_for("eventop", "operator")
    with own_vm("events", start=True) as [name]:
        seen, _ = _collect(api, name, 15)
        with api.client(token) as http:
            assert http.post(f"/api/v1/vms/{name}/pause").status_code == 200
        paused = _wait_for(seen, "paused", 1.0)
        assert paused.actor == "eventop" and paused.vm == name
        # The same VM resumed behind virtdeck's back, as virsh would.
        conn = libvirt.open(TEST_URI)
        began = time.monotonic()
        conn.lookupByName(name).resume()
        resumed = _wait_for(seen, "resumed", 1.0)
        assert time.monotonic() - began < 1.0
        assert resumed.actor is None
        conn.close()


def test_the_stream_is_closed_without_credentials_and_filters_by_vm(api: LiveServer) -> None:
    assert httpx.get(f"{api.url}/api/v1/events", timeout=10).status_code == 401
    with own_vm("evf", start=True) as [mine], own_vm("evf", start=True) as [other]:
        seen, _ = _collect(api, mine, 10)
        conn = libvirt.open(TEST_URI)
        conn.lookupByName(other).suspend()
        conn.lookupByName(mine).suspend()
        _wait_for(seen, "paused", 2.0)
        assert {e.vm for e in seen} == {mine}
        conn.close()


def test_metrics_need_a_token_and_count_vms_and_requests(api: LiveServer) -> None:
    assert httpx.get(f"{api.url}/metrics", timeout=10).status_code == 401
    with own_vm("metrics", start=True) as [name], api.client(api.admin_token) as http:
        http.get("/api/v1/vms")
        answer = http.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        states = {
            s.labels["vm"]: s.value
            for s in families["virtdeck_vm_state"].samples
            if s.labels.get("state") == "running"
        }
        assert states[name] == 1
        requests = families["virtdeck_api_requests"].samples
        assert any(
            s.labels["route"] == "/api/v1/vms" and s.labels["status"] == "200" and s.value >= 1
            for s in requests
        ), requests
        # The route's template, never the raw path of a VM.
        assert not any(name in s.labels.get("route", "") for s in requests)
        assert "vdt_" not in answer.text
