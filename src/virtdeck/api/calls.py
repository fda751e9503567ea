"""Running engine calls from the event loop: in worker threads, with a deadline.

The engine is synchronous (libvirt's calls block), so every route hands its
call to a worker thread. A deadline bounds what a client waits: when
libvirtd stops answering (SIGSTOPed, a wedged QEMU monitor) the request ends
with 504 while the thread goes on until libvirt's keepalive gives up, and
routes that never touch libvirt (/health) keep answering.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

from virtdeck.errors import Timeout

P = ParamSpec("P")
T = TypeVar("T")

# The default deadline of a request's engine call, in seconds. Calls that
# wait on purpose (a shutdown's timeout, ?wait=) get their own.
DEFAULT_DEADLINE = 30.0

_limiter: CapacityLimiter | None = None
# This server's deadline: Settings.api_deadline (VIRTDECK_API_DEADLINE), set
# by create_app; DEFAULT_DEADLINE until then.
_deadline = DEFAULT_DEADLINE


def set_deadline(seconds: float) -> None:
    """The default deadline of every request's engine call from now on."""
    global _deadline
    _deadline = seconds


def deadline() -> float:
    """The default deadline of a request's engine call, in seconds."""
    return _deadline


def _threads() -> CapacityLimiter:
    # Made on first use, inside the running event loop, as anyio wants.
    global _limiter
    if _limiter is None:
        _limiter = CapacityLimiter(64)
    return _limiter


async def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread; Timeout (504) after the default deadline."""
    return await call_within(_deadline, fn, *args, **kwargs)


async def call_within(deadline: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread; Timeout (504) after ``deadline`` seconds."""
    bound = functools.partial(fn, *args, **kwargs)
    try:
        return await asyncio.wait_for(
            anyio.to_thread.run_sync(bound, abandon_on_cancel=True, limiter=_threads()),
            deadline,
        )
    except TimeoutError:
        raise Timeout(
            f"the host did not answer within {deadline:g} s (libvirtd busy or stopped); "
            "try again later, and check the host if it goes on"
        ) from None
