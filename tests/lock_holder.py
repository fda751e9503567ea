"""A VM's lock held by "another command": a thread of its own, as a second process would.

A lock is re-entrant within one task (a nested hold of a key the task holds
is a no-op), so a test that holds it in its own thread and then runs a
command there would not see the conflict a second command meets.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator

from virtdeck.engine import Engine


@contextlib.contextmanager
def held_elsewhere(engine: Engine, name: str, action: str) -> Iterator[None]:
    handle = engine.defs.lookup(name)
    taken = threading.Event()
    release = threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            with engine.ctx.lock_vm(handle, action):
                taken.set()
                release.wait(120)
        except BaseException as exc:
            failure.append(exc)
            taken.set()

    thread = threading.Thread(target=contextvars.Context().run, args=(hold,), daemon=True)
    thread.start()
    taken.wait(30)
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        release.set()
        thread.join(30)
