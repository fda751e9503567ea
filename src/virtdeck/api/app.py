"""The FastAPI application: routers, problems, the docs page, request logs and metrics."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from virtdeck import __version__

from . import calls, problems
from .access import AccessLog
from .limits import BodyLimit, EncodedSlash, NoNul
from .metrics import ApiMetrics
from .routers import (
    accounts,
    devices,
    history,
    host,
    meta,
    observe,
    operations,
    snapshots,
    specs,
    vms,
)
from .server import Server

log = logging.getLogger("virtdeck.api.access")

OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
SWAGGER_STATIC = "/api/static/swagger"

DESCRIPTION = """\
virtdeck's REST API: the VMs of the engine's hosts, their devices, snapshots,
history and specs; long work as operations (202 with a Location); users,
tokens and the audit log. Every route but a few needs a token
(`Authorization: Bearer TOKEN`, from `virtdeck token create`) or a login
session; each names the permission it needs as `x-virtdeck-permission`.
Errors are RFC 9457 problem details with a stable `code`.
"""


def _swagger_dir() -> Path | None:
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError:  # pragma: no cover - a dependency; listed in pyproject
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


def create_app(server: Server) -> FastAPI:
    app = FastAPI(
        title="virtdeck",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
    )
    app.state.server = server
    calls.set_deadline(server.settings.api_deadline)
    problems.install(app)
    app.include_router(meta.router)
    # Each router carries its prefix, so a route's path is its whole template
    # (what the request metrics and the audit log name it by).
    for module in (vms, devices, snapshots, history, specs, operations, host, accounts, observe):
        app.include_router(module.router)
    app.include_router(observe.root_router)
    metrics = ApiMetrics(snapshot=server.engine.metrics, host=server.engine.host_id)
    app.state.metrics = metrics

    swagger = _swagger_dir()
    if swagger is not None:
        app.mount(SWAGGER_STATIC, StaticFiles(directory=swagger), name="swagger")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        # Served from the package's own copy of Swagger UI: no CDN.
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="virtdeck API",
            swagger_js_url=f"{SWAGGER_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_STATIC}/favicon-32x32.png",
        )

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(DOCS_URL)

    app.add_middleware(AccessLog, metrics=metrics)
    app.add_middleware(NoNul)
    app.add_middleware(EncodedSlash)
    app.add_middleware(BodyLimit)
    return app
