"""The API's shapes: problem bodies, ETags and If-Match, 409, 202 operations, pages."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import libvirt

from tests.lock_holder import held_elsewhere
from tests.service.live_server import LiveServer
from tests.service.vms import TEST_URI, own_vm


def _problem(answer: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = answer.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:virtdeck:problem:{code}"
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    assert "Traceback" not in answer.text
    return body


def test_errors_are_problem_details(api: LiveServer) -> None:
    with api.client(api.admin_token) as http:
        missing = _problem(http.get("/api/v1/vms/no-such-vm"), 404, "not_found")
        assert "no-such-vm" in str(missing["detail"])
        _problem(http.get("/api/v1/no/such/route"), 404, "not_found")
        _problem(http.put("/api/v1/vms/x1/cpus", json={"count": "many"}), 422, "invalid_input")
        _problem(http.put("/api/v1/vms/x1/cpus", content=b"{not json"), 422, "invalid_input")
        _problem(http.patch("/api/v1/vms"), 405, "method_not_allowed")
        bad_name = _problem(http.get("/api/v1/vms/" + "n" * 300), 422, "invalid_input")
        assert "255" in str(bad_name["detail"])


def test_an_error_that_names_a_field_keeps_its_parts_and_hint(api: LiveServer) -> None:
    with own_vm("hint", start=True) as [name], api.client(api.admin_token) as http:
        body = _problem(http.delete(f"/api/v1/vms/{name}"), 409, "conflict")
        assert body["field"] == "force"
        assert {"text": "force", "field": True} in body["parts"]  # type: ignore[operator]
        assert body["hint"] == {"action": "vm.stop", "vm": name, "args": {}}


def test_etag_and_if_match(api: LiveServer) -> None:
    with own_vm("etag") as [name], api.client(api.admin_token) as http:
        first = http.get(f"/api/v1/vms/{name}")
        etag = first.headers["etag"]
        assert etag.startswith('"') and len(etag) == 66
        assert http.get(f"/api/v1/vms/{name}/xml").headers["etag"] == etag
        # A change under the current ETag goes through and changes the ETag.
        done = http.put(
            f"/api/v1/vms/{name}/cpus",
            json={"count": 2, "config": True},
            headers={"If-Match": etag},
        )
        assert done.status_code == 200, done.text
        assert http.get(f"/api/v1/vms/{name}").headers["etag"] != etag
        # The same ETag is stale now: the start changes nothing.
        before = http.get(f"/api/v1/vms/{name}/xml").json()["xml"]
        _problem(
            http.post(f"/api/v1/vms/{name}/start", headers={"If-Match": etag}),
            412,
            "precondition_failed",
        )
        assert http.get(f"/api/v1/vms/{name}").json()["state"] == "shut off"
        # An edit needs If-Match; with a stale one it is refused and the XML stays.
        edited = before.replace("<memory unit='KiB'>65536", "<memory unit='KiB'>131072")
        _problem(
            http.put(f"/api/v1/vms/{name}/xml", json={"xml": edited}), 412, "precondition_failed"
        )
        now = http.get(f"/api/v1/vms/{name}/xml", params={"inactive": True})
        fresh = now.headers["etag"]
        changed = http.put(
            f"/api/v1/vms/{name}/xml", json={"xml": now.json()["xml"]}, headers={"If-Match": fresh}
        )
        assert changed.status_code == 200, changed.text
        _problem(
            http.post(f"/api/v1/vms/{name}/start", headers={"If-Match": '"' + "0" * 64 + '"'}),
            412,
            "precondition_failed",
        )
        _problem(
            http.post(f"/api/v1/vms/{name}/start", headers={"If-Match": 'W/"x"'}),
            422,
            "invalid_input",
        )


def test_a_second_change_at_once_gets_409(api: LiveServer) -> None:
    with own_vm("busy", start=True) as [name], api.client(api.admin_token) as http:
        with held_elsewhere(api.engine, name, "a long change"):
            body = _problem(http.post(f"/api/v1/vms/{name}/pause"), 409, "conflict")
            assert "a long change" in str(body["detail"])
        assert http.post(f"/api/v1/vms/{name}/pause").json()["state"] == "paused"


def test_long_work_answers_202_with_its_operation(api: LiveServer) -> None:
    with own_vm("snap") as [name], api.client(api.admin_token) as http:
        answer = http.post(f"/api/v1/vms/{name}/snapshots", json={"name": "s1"})
        assert answer.status_code == 202, answer.text
        op = answer.json()
        assert answer.headers["location"] == f"/api/v1/operations/{op['id']}"
        done = http.get(answer.headers["location"], params={"wait": 30}).json()
        assert done["state"] == "succeeded", done
        assert done["result"]["name"] == "s1"
        assert [s["name"] for s in http.get(f"/api/v1/vms/{name}/snapshots").json()] == ["s1"]
        revert = http.post(f"/api/v1/vms/{name}/snapshots/s1/revert")
        assert revert.status_code == 202
        assert http.get(revert.headers["location"], params={"wait": 30}).json()["state"] == (
            "succeeded"
        )
        ops = http.get("/api/v1/operations", params={"limit": 5}).json()
        assert op["id"] in {o["id"] for o in ops}


def test_lists_page_by_cursor_and_filter(api: LiveServer) -> None:
    with own_vm("page", count=7) as names, api.client(api.admin_token) as http:
        # Defined behind the server's back: listed once libvirt's events came.
        deadline = time.monotonic() + 1.0
        while not set(names) <= {
            v["name"] for v in http.get("/api/v1/vms?limit=1000").json()["items"]
        }:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        seen: list[str] = []
        url: str | None = "/api/v1/vms?limit=3&state=shut%20off"
        while url:
            page = http.get(url).json()
            seen += [vm["name"] for vm in page["items"]]
            assert len(page["items"]) <= 3
            url = page["next"]
        mine = [n for n in seen if n.startswith(names[0][:-4])]
        assert mine == names
        assert all(vm["host"] == "local" for vm in http.get("/api/v1/vms").json()["items"])
        running = http.get("/api/v1/vms", params={"state": "running"}).json()["items"]
        assert all(vm["state"] == "running" for vm in running)
        assert not {vm["name"] for vm in running} & set(names)


def test_the_served_list_follows_changes_made_behind_its_back(api: LiveServer) -> None:
    """The list comes from a cache fed by libvirt's events: what virsh does shows within 1 s."""

    def listed(http: httpx.Client) -> dict[str, str]:
        items = http.get("/api/v1/vms", params={"limit": 1000}).json()["items"]
        return {vm["name"]: vm["state"] for vm in items}

    def within(seconds: float, http: httpx.Client, check: Callable[[dict[str, str]], bool]) -> None:
        deadline = time.monotonic() + seconds
        while not check(listed(http)):
            assert time.monotonic() < deadline, listed(http)
            time.sleep(0.05)

    with api.client(api.admin_token) as http:
        listed(http)  # the cache is filled now
        with own_vm("cache", start=True) as [name]:
            within(1.0, http, lambda vms: vms.get(name) == "running")
            conn = libvirt.open(TEST_URI)
            conn.lookupByName(name).suspend()
            within(1.0, http, lambda vms: vms.get(name) == "paused")
            # A change made through the server is in the very next list.
            assert http.post(f"/api/v1/vms/{name}/resume").status_code == 200
            assert listed(http)[name] == "running"
            conn.close()
        within(1.0, http, lambda vms: name not in vms)
