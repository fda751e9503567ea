"""libvirt's default event loop, run once per process in a daemon thread.

Needed for non-blocking console streams, domain events and keepalive: a
connection only gets these when the loop was registered before it opened.
"""

from __future__ import annotations

import threading

import libvirt

_lock = threading.Lock()
_started = False


def _run() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def ensure_event_loop() -> None:
    global _started
    with _lock:
        if _started:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run, name="libvirt-events", daemon=True).start()
        _started = True
