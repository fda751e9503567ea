"""One log line and one metrics sample per request, as plain ASGI (no per-request task)."""

from __future__ import annotations

import logging
import time

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import ApiMetrics

log = logging.getLogger("virtdeck.api.access")


class AccessLog:
    """``client "METHOD /path" status time user``: the path without its query, no credential."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            seconds = time.perf_counter() - began
            route = scope.get("route")
            template = route.path if isinstance(route, APIRoute) else None
            state = scope.get("state") or {}
            principal = state.get("principal")
            client = scope.get("client")
            log.info(
                '%s "%s %s" %d %.1fms %s',
                client[0] if client else "-",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                principal.user if principal is not None else "-",
            )
            self.metrics.observe_request(scope["method"], template, status, seconds)
