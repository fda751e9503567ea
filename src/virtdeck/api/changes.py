"""Changing a VM under its If-Match: the check and the change under one lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from virtdeck.engine.engine import Engine

from .calls import call, call_within
from .calls import deadline as default_deadline
from .deps import expected_digest

T = TypeVar("T")


async def change(
    engine: Engine,
    name: str,
    if_match: str | None,
    action: str,
    work: Callable[[], T],
    deadline: float | None = None,
) -> T:
    """``work()`` in a worker thread; with an If-Match, under the VM's lock and its check.

    Without an If-Match the engine takes the VM's lock itself; a second
    change to the same VM meanwhile gets 409 either way.
    """
    digest = expected_digest(if_match)

    def guarded() -> T:
        try:
            if digest is None:
                return work()
            with engine.expecting(name, digest, action):
                return work()
        finally:
            # Before the answer goes out: a list asked for right after it
            # must not be the one from before (libvirt's event may come later).
            engine.forget_cached_vms()

    return await call_within(default_deadline() if deadline is None else deadline, guarded)


async def check_unchanged(engine: Engine, name: str, if_match: str | None, action: str) -> None:
    """The If-Match check alone, for work that runs as an operation in its own thread.

    An operation takes the VM's lock in its runner's thread, so this request
    cannot hold it across; a change between the check and the operation's
    start is possible there, and only there.
    """
    digest = expected_digest(if_match)
    if digest is None:
        return

    def check() -> None:
        with engine.expecting(name, digest, action):
            pass

    await call(check)
