"""Watching: ``/events`` (Server-Sent Events), ``/metrics`` (Prometheus) and stats as JSON."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response, StreamingResponse

from virtdeck.engine.api import EventStream
from virtdeck.engine.schemas import MetricsSnapshot, VmEvent

from ..calls import call
from ..deps import API_PREFIX, EngineDep
from ..routes import Routes
from ..schemas import SECONDS_MAX

routes = Routes(prefix=API_PREFIX, tags=["observe"])
router = routes.router
# /metrics lives at the root, where Prometheus looks for it.
root_routes = Routes(tags=["observe"])
root_router = root_routes.router

# A comment line this often keeps proxies and clients from taking a quiet
# stream for a dead one.
KEEPALIVE_SECONDS = 15.0
# Events a slow client may fall behind by before the oldest are dropped.
BACKLOG = 1000


def _pump(
    stream: EventStream, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[VmEvent | None]
) -> None:
    """Reads the engine's (blocking) stream on a thread of its own, into the event loop."""

    def put(item: VmEvent | None) -> None:
        if queue.full() and item is not None:
            queue.get_nowait()  # a slow client loses the oldest, never the stream
        queue.put_nowait(item)

    try:
        for event in stream:
            loop.call_soon_threadsafe(put, event)
    finally:
        loop.call_soon_threadsafe(put, None)


def _frame(event: VmEvent) -> str:
    kind = "operation" if event.event == "operation" else "lifecycle"
    return f"event: {kind}\ndata: {event.model_dump_json()}\n\n"


@routes.get(
    "/events",
    operation_id="event_stream",
    permission="events.read",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The stream"}},
)
async def events(
    engine: EngineDep,
    vm: Annotated[str | None, Query(max_length=255, description="Only this VM's events.")] = None,
    timeout: Annotated[
        float | None, Query(gt=0, le=SECONDS_MAX, description="End the stream after this.")
    ] = None,
    operations: Annotated[bool, Query(description="Operation progress too.")] = True,
) -> StreamingResponse:
    """VM lifecycle events (``event: lifecycle``) and operation progress (``event: operation``).

    Each names who caused it where virtdeck knows (``actor``); a change made
    with virsh has none. The stream starts with a comment once it listens.
    """
    stream = await call(engine.events, vm, timeout, operations)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[VmEvent | None] = asyncio.Queue(maxsize=BACKLOG)
    threading.Thread(
        target=_pump, args=(stream, loop, queue), name="event stream", daemon=True
    ).start()

    async def body() -> AsyncIterator[str]:
        try:
            yield ": listening\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return
                yield _frame(event)
        finally:
            stream.close()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@routes.get(
    "/stats",
    operation_id="host_stats",
    permission="metrics.read",
    response_model=MetricsSnapshot,
)
async def stats(engine: EngineDep) -> MetricsSnapshot:
    """The host's and every VM's counters, from one bulk call (what /metrics exports)."""
    return await call(engine.metrics)


@root_routes.get(
    "/metrics",
    operation_id="metrics",
    permission="metrics.read",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus exposition: host, VMs, operations by state, and the API's own requests."""
    body, content_type = await call(request.app.state.metrics.render)
    return Response(body, media_type=content_type)
