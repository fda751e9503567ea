"""The API is closed by default: every route refuses a request without credentials.

The test walks the app's own route table, so a route added later is checked
without anyone remembering to; the routes that need no credentials are the
short list below, and a route that is public without being in it fails.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route, WebSocketRoute

from tests.service.live_server import LiveServer
from virtdeck.api.routes import PERMISSION_KEY, PUBLIC

# (method, path) of every route that answers without credentials.
PUBLIC_ROUTES = {
    ("GET", "/health"),
    ("GET", "/api/v1"),
    ("POST", "/api/v1/login"),
    ("POST", "/api/v1/logout"),  # it ends the session it is sent with, and needs one
    # The API's description and its docs page say what the API is, not what it holds.
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/"),  # a redirect to the docs
}
PUBLIC_MOUNTS = {"/api/static/swagger"}  # Swagger UI's own files


def _concrete(path: str) -> str:
    """A path of the template with a plausible value in each parameter."""
    return re.sub(r"\{[^}]+\}", "x1", path)


def _routes(api: LiveServer) -> list[tuple[str, str, object]]:
    from virtdeck.api.app import create_app  # noqa: PLC0415
    from virtdeck.api.server import Server  # noqa: PLC0415

    app = create_app(Server(engine=api.engine, settings=api.engine.settings))
    found = []
    # An included router is one entry of the table in recent FastAPI (its
    # routes, prefix and all, are its original router's): descend into it.
    table = list(app.routes)
    while any(hasattr(r, "original_router") for r in table):
        table = [
            sub
            for r in table
            for sub in (r.original_router.routes if hasattr(r, "original_router") else [r])
        ]
    for route in table:
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path, route))
        elif isinstance(route, WebSocketRoute):
            found.append(("WEBSOCKET", route.path, route))
        elif isinstance(route, Mount):
            found.append(("MOUNT", route.path, route))
    return found


def test_every_route_but_the_public_ones_needs_credentials(api: LiveServer) -> None:
    routes = _routes(api)
    assert len(routes) > 40
    checked = 0
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for method, path, _route in routes:
            if method == "MOUNT":
                assert path in PUBLIC_MOUNTS, f"mount {path} is not in the public list"
                continue
            if (method, path) in PUBLIC_ROUTES:
                continue
            if method == "WEBSOCKET":
                pytest.fail(f"websocket {path}: add its refusal check here")
            answer = http.request(method, _concrete(path), json={})
            assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
            body = answer.json()
            assert body["code"] == "unauthenticated" and body["status"] == 401
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.headers.get("www-authenticate") == "Bearer"
            checked += 1
    assert checked > 35


def test_every_route_declares_its_permission(api: LiveServer) -> None:
    for method, path, route in _routes(api):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        extra = route.openapi_extra or {}
        assert PERMISSION_KEY in extra, f"{method} {path} declares no permission"
        if extra[PERMISSION_KEY] == PUBLIC:
            assert (method, path) in PUBLIC_ROUTES, f"{method} {path} is public unlisted"


def test_the_public_list_is_really_public(api: LiveServer) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        assert http.get("/health").json()["status"] == "ok"
        root = http.get("/api/v1").json()
        assert root["api_version"] == "1.0" and "vms" in root["api_extensions"]
        assert http.get("/api/openapi.json").json()["info"]["title"] == "virtdeck"
        docs = http.get("/api/docs")
        assert docs.status_code == 200 and "/api/static/swagger/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text.lower()
        assert http.get("/api/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_a_wrong_or_malformed_token_is_refused_alike(api: LiveServer) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for header in ("Bearer vdt_not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer", "bearer  x"):
            answer = http.get("/api/v1/vms", headers={"Authorization": header})
            assert answer.status_code == 401, header
            assert "vdt_not-a-token" not in answer.text
