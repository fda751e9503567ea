"""``Host.open_wait``: a libvirtd that takes a connection but does not answer holds no caller long.

The silent daemon is a real unix socket that listens and never accepts: the
kernel completes the client's connect, and libvirt's client then waits for
an answer to its first call for ever, as it does with a libvirtd that is
starting (it answers once its drivers are up) or SIGSTOPped.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from virtdeck.errors import HostUnavailable
from virtdeck.host.connection import Host

WAIT = 0.3


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "libvirt-sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    try:
        yield f"qemu+unix:///system?socket={path}", listener
    finally:
        listener.close()


def _conn_outcome(host: Host, outcomes: list[tuple[str, float]]) -> None:
    began = time.monotonic()
    try:
        _ = host.conn
        outcomes.append(("connected", time.monotonic() - began))
    except HostUnavailable as exc:
        outcomes.append((exc.message, time.monotonic() - began))


def test_callers_of_a_silent_libvirtd_get_host_unavailable_side_by_side(
    silent_socket: tuple[str, socket.socket],
) -> None:
    uri, listener = silent_socket
    host = Host(uri)
    host.open_wait = WAIT
    outcomes: list[tuple[str, float]] = []
    callers = [threading.Thread(target=_conn_outcome, args=(host, outcomes)) for _ in range(4)]
    began = time.monotonic()
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=10)
    # Each waited WAIT, all at once: not one after the other behind the host's lock.
    assert time.monotonic() - began < 3 * WAIT
    assert len(outcomes) == 4
    for message, seconds in outcomes:
        assert message == (
            f"libvirtd at {uri} did not answer a new connection within {WAIT:g} s "
            "(it may be starting, overloaded or stopped); try again in a moment"
        )
        assert WAIT - 0.05 <= seconds < 2 * WAIT
    # The daemon goes away: the open under way fails (its waiters hear why), and
    # the next caller's own open finds no libvirtd.
    listener.close()
    Path(uri.split("socket=", 1)[1]).unlink()
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while not any("libvirtd is not running there" in m for m in seen):
        assert time.monotonic() < deadline, seen
        with pytest.raises(HostUnavailable) as info:
            _ = host.conn
        seen.append(info.value.message)
    assert not [m for m in seen[:-1] if "did not answer" not in m and "reset" not in m], seen
    host.close()


def test_a_late_connection_is_the_next_callers_and_opened_once() -> None:
    gate = threading.Event()
    opened: list[Any] = []

    def late_open(uri: str) -> Any:
        gate.wait(10)
        opened.append(libvirt.open(uri))
        return opened[-1]

    host = Host("test:///default", opener=late_open)
    host.open_wait = WAIT
    with pytest.raises(HostUnavailable, match="did not answer a new connection"):
        _ = host.conn
    with pytest.raises(HostUnavailable, match="did not answer a new connection"):
        _ = host.conn  # waits on the same open, starts no second one
    gate.set()
    deadline = time.monotonic() + 10
    while not opened and time.monotonic() < deadline:
        time.sleep(0.01)
    began = time.monotonic()
    conn = host.conn
    assert time.monotonic() - began < WAIT
    assert len(opened) == 1 and conn is opened[0]
    assert host.conn is conn
    assert conn.getURI() == "test:///default"
    host.close()


def test_without_open_wait_a_caller_waits_for_its_open() -> None:
    def slow_open(uri: str) -> Any:
        time.sleep(2 * WAIT)
        return libvirt.open(uri)

    host = Host("test:///default", opener=slow_open)
    assert host.open_wait is None
    began = time.monotonic()
    assert host.conn.getURI() == "test:///default"
    assert time.monotonic() - began >= 2 * WAIT
    host.close()
