"""Roles, tokens, sessions and CSRF, as clients meet them over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.service.live_server import LiveServer
from tests.service.vms import own_vm


def test_a_viewer_reads_but_changes_nothing(api: LiveServer) -> None:
    token = api.token_for("viewer1", "viewer")
    with own_vm("viewer", start=True) as [name], api.client(token) as http:
        assert http.get(f"/api/v1/vms/{name}").json()["state"] == "running"
        for method, path in (
            ("POST", f"/api/v1/vms/{name}/stop"),
            ("POST", f"/api/v1/vms/{name}/pause"),
            ("DELETE", f"/api/v1/vms/{name}"),
            ("PUT", f"/api/v1/vms/{name}/cpus"),
            ("POST", "/api/v1/users"),
            ("GET", "/api/v1/audit"),
        ):
            answer = http.request(method, path, json={"count": 1})
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["code"] == "forbidden"
        assert http.get(f"/api/v1/vms/{name}").json()["state"] == "running"


def test_an_operator_changes_vms_but_not_users(api: LiveServer) -> None:
    token = api.token_for("operator1", "operator")
    with own_vm("oper", start=True) as [name], api.client(token) as http:
        assert http.post(f"/api/v1/vms/{name}/pause").json()["state"] == "paused"
        assert http.post(f"/api/v1/vms/{name}/resume").json()["state"] == "running"
        answer = http.post(
            "/api/v1/users", json={"name": "sneaky", "role": "admin", "password": "x" * 12}
        )
        assert answer.status_code == 403
        assert http.get("/api/v1/users").status_code == 403
        # Its own tokens are its own business; another user's are not.
        mine = http.post("/api/v1/tokens", json={"name": "mine"})
        assert mine.status_code == 201 and mine.json()["secret"]
        theirs = http.post("/api/v1/tokens", json={"name": "theirs", "user": "admin"})
        assert theirs.status_code == 403
        # A whole definition could name any host file as a disk: admins only.
        read = http.get(f"/api/v1/vms/{name}/xml", params={"inactive": True})
        edit = http.put(
            f"/api/v1/vms/{name}/xml",
            json={"xml": read.json()["xml"]},
            headers={"If-Match": read.headers["etag"]},
        )
        assert edit.status_code == 403 and "vm.xml.write" in edit.json()["detail"]
    assert "sneaky" not in {u.name for u in api.engine.list_users()}


def _session(api: LiveServer, user: str, password: str) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=api.url, timeout=30)
    answer = http.post("/api/v1/login", json={"user": user, "password": password})
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return http, answer.json()["csrf_token"]


def test_a_session_change_needs_its_csrf_token(api: LiveServer) -> None:
    password = "operator-pass-1"
    api.engine.add_user("sessionop", "operator", password)
    http, csrf = _session(api, "sessionop", password)
    with own_vm("csrf", start=True) as [name]:
        assert http.get(f"/api/v1/vms/{name}").status_code == 200  # reading needs none
        refused = http.post(f"/api/v1/vms/{name}/pause")
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        wrong = http.post(f"/api/v1/vms/{name}/pause", headers={"X-CSRF-Token": "x" + csrf})
        assert wrong.status_code == 403
        assert http.get(f"/api/v1/vms/{name}").json()["state"] == "running"
        done = http.post(f"/api/v1/vms/{name}/pause", headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200 and done.json()["state"] == "paused"
        assert http.post("/api/v1/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert http.get(f"/api/v1/vms/{name}").status_code == 401


def test_failed_logins_are_throttled_and_never_tell_who_exists(api: LiveServer) -> None:
    api.engine.add_user("victim", "viewer", "the-right-password")
    with httpx.Client(base_url=api.url, timeout=30) as http:
        unknown = http.post("/api/v1/login", json={"user": "nobody-here", "password": "x" * 10})
        wrong = http.post("/api/v1/login", json={"user": "victim", "password": "x" * 10})
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json()["detail"] == wrong.json()["detail"]
        statuses = [
            http.post("/api/v1/login", json={"user": "victim", "password": f"bad-{i}"}).status_code
            for i in range(10)
        ]
        assert statuses[-1] == 429, statuses
        # Throttled: even the right password waits now.
        right = http.post(
            "/api/v1/login", json={"user": "victim", "password": "the-right-password"}
        )
        assert right.status_code == 429
        assert right.json()["code"] == "rate_limited"


def test_a_revoked_token_stops_working(api: LiveServer) -> None:
    made = api.engine.create_token("short-lived", "admin")
    with api.client(made.secret) as http:
        assert http.get("/api/v1/vms").status_code == 200
        assert http.delete(f"/api/v1/tokens/{made.id}").status_code == 200
        assert http.get("/api/v1/vms").status_code == 401


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_whoami(api: LiveServer, role: str) -> None:
    with api.client(api.token_for(f"who-{role}", role)) as http:  # type: ignore[arg-type]
        assert http.get("/api/v1/whoami").json() == {
            "user": f"who-{role}",
            "role": role,
            "via": "token",
        }


def test_every_change_is_audited_with_who_where_what_and_outcome(api: LiveServer) -> None:
    token = api.token_for("auditop", "operator")
    with own_vm("audit", start=True) as [name], api.client(token) as http:
        assert http.post(f"/api/v1/vms/{name}/pause").status_code == 200
        assert http.post(f"/api/v1/vms/{name}/pause").status_code == 409
        snap = http.post(f"/api/v1/vms/{name}/snapshots", json={"name": "a1"})
        assert snap.status_code == 202
        http.get(snap.headers["location"], params={"wait": 30})
        assert http.delete(f"/api/v1/vms/{name}/snapshots/a1").status_code == 200
        assert http.get(f"/api/v1/vms/{name}").status_code == 200  # reading is not audited
    with api.client(api.admin_token) as admin:
        page = admin.get("/api/v1/audit", params={"vm": name}).json()
    entries = page["items"]
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("snapshot.delete", "ok"),
        ("snapshot.create", "ok"),
        ("vm.pause", "conflict"),
        ("vm.pause", "ok"),
    ]
    assert all(e["user"] == "auditop" and e["via"] == "token" for e in entries)
    assert all(e["client"] == "127.0.0.1" and e["resource"] == name for e in entries)
    assert entries[0]["detail"] == "snapshot=a1"
    assert entries[1]["operation_id"] == snap.json()["id"]
    assert token not in str(page)
    # The CLI reads the same log.
    cli = api.engine.list_audit(user="auditop", vm=name)
    assert [e.action for e in cli] == [e["action"] for e in entries]
