"""Open the libvirt connection while the rest of the program is still loading.

A CLI command spends its first tenth of a second or more importing Python
modules, and opening a connection can take as long again (a test-driver
node file is parsed on open; a remote URI makes a TCP or SSH round trip).
libvirt releases the GIL while it connects, so the two overlap: the console
script starts the open here on a thread before it imports the CLI, and
``Host`` takes the result instead of opening a second connection.

This module imports nothing but the standard library at load time, so
starting it costs nothing measurable; libvirt itself is imported on the
thread.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from typing import Any


def _silent(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr unless a handler takes it."""


class _Opening:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.conn: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="libvirt-preconnect", daemon=True)

    def _run(self) -> None:
        try:
            # As little Python as possible here: it competes for the GIL with
            # the imports on the main thread, while libvirt's C code does not.
            # The same start-up as the main path otherwise: errors silenced
            # (virtdeck reports them itself), and the event loop registered
            # before the connection opens, or it gets no keepalive and no events.
            import libvirt  # noqa: PLC0415

            from .eventloop import ensure_event_loop  # noqa: PLC0415

            libvirt.registerErrorHandler(_silent, None)
            ensure_event_loop()
            self.conn = libvirt.open(self.uri)
        except BaseException as exc:
            # Handed to the main thread, which reports it as its own.
            self.error = exc


_lock = threading.Lock()
_pending: _Opening | None = None


def start(uri: str) -> None:
    """Begin opening ``uri`` in the background; at most one at a time."""
    global _pending
    with _lock:
        if _pending is not None:
            return
        _pending = _Opening(uri)
        _pending.thread.start()


def take(uri: str) -> Any:
    """The connection opened early for ``uri``, or None if there is none.

    Raises what the early open raised, so the caller reports a failed
    connection exactly as if it had opened it itself, without trying twice.
    A connection opened for another URI is closed, not handed out.
    """
    global _pending
    with _lock:
        opening, _pending = _pending, None
    if opening is None:
        return None
    opening.thread.join()
    if opening.uri != uri:
        _close(opening)
        return None
    if opening.error is not None:
        raise opening.error
    return opening.conn


def _close(opening: _Opening) -> None:
    if opening.conn is not None:
        # An unused connection: nothing to report if closing it fails.
        with contextlib.suppress(Exception):
            opening.conn.close()


def _discard() -> None:
    """At exit, wait for an open nobody took (a usage error, say) and close it.

    Waiting keeps libvirt's C code from running while the interpreter and
    the library shut down underneath it.
    """
    global _pending
    with _lock:
        opening, _pending = _pending, None
    if opening is not None:
        opening.thread.join()
        _close(opening)


atexit.register(_discard)
