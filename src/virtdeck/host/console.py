"""A VM's serial console through libvirt's console stream.

Works for local and remote hosts alike (no pty paths involved). Used by
tests to type into the appliance's root shell, and by ``vm console``.
"""

from __future__ import annotations

import os
import re
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import libvirt

from virtdeck.errors import Conflict, Hint, Timeout, opt

from .connection import Host, translate
from .domains import lookup

# Ctrl-], the key virsh console leaves on.
ESCAPE = b"\x1d"


class SerialConsole:
    def __init__(self, host: Host, name: str, force: bool = True) -> None:
        self.name = name
        handle = lookup(host, name)
        if not handle.is_active():
            raise Conflict(f"VM {name} is not running; start it to use its console")
        conn = host.conn
        self._stream: Any = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0
        try:
            handle.virdomain(conn).openConsole(None, self._stream, flags)
        except libvirt.libvirtError as exc:
            if not force and exc.get_error_code() == libvirt.VIR_ERR_OPERATION_FAILED:
                # libvirt's words for a console another client holds.
                raise Conflict(
                    f"the console of {name} is in use by another client; "
                    f"{opt('force')} takes it over",
                    hint=Hint("vm.console.force", vm=name),
                ) from exc
            raise translate(exc, f"open the console of {name}") from exc
        self.buffer = ""

    def send(self, text: str) -> None:
        data = text.encode()
        while data:
            sent = self._stream.send(data)
            if sent == -2:  # would block
                time.sleep(0.01)
                continue
            data = data[sent:]

    def read_available(self) -> str:
        chunks = []
        while True:
            try:
                got = self._stream.recv(4096)
            except libvirt.libvirtError:
                break
            if got == -2 or not got:
                break
            chunks.append(got.decode(errors="replace"))
        text = "".join(chunks)
        self.buffer += text
        return text

    def expect(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait for ``pattern`` (a regex) in what the console printed since the last match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            self.read_available()
            match = regex.search(self.buffer)
            if match:
                self.buffer = self.buffer[match.end() :]
                return match
            if time.monotonic() > deadline:
                tail = self.buffer[-300:]
                raise Timeout(
                    f"console of {self.name}: no {pattern!r} within {timeout:g} s; "
                    f"last output: {tail!r}"
                )
            time.sleep(0.05)

    def relay(self, input_fd: int, output: Callable[[bytes], object]) -> str:
        """Interactive use: ``input_fd`` to the guest, the guest to ``output``, until Ctrl-].

        Returns "left" (Ctrl-] or end of input) or "closed" (the VM stopped,
        or another client took the console over).
        """
        return Relay(self, output).run(input_fd)

    def close(self) -> None:
        try:
            self._stream.finish()
        except libvirt.libvirtError:
            try:
                self._stream.abort()
            except libvirt.libvirtError:
                pass

    def __enter__(self) -> SerialConsole:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Relay:
    """Pipes bytes between a local file descriptor and a console, until Ctrl-].

    Guest output arrives through a stream callback run by libvirt's event
    loop thread (see eventloop.py) and is written to ``output``; the calling
    thread waits on ``input_fd`` and a wake-up pipe, so it sleeps until the
    user types or the stream ends (the VM stopped, or another client took
    the console over by force).
    """

    def __init__(self, console: SerialConsole, output: Callable[[bytes], object]) -> None:
        self._stream = console._stream
        self._output = output
        self._wake_r, self._wake_w = os.pipe()
        self._closed = threading.Event()
        self.reason = "left"  # or "closed": the other end went away

    def _on_event(self, stream: Any, events: int, _opaque: object) -> None:
        if events & libvirt.VIR_STREAM_EVENT_READABLE:
            while True:
                try:
                    got = stream.recv(65536)
                except libvirt.libvirtError:
                    self._hang_up()
                    return
                if got == -2:
                    break
                if not got:  # end of stream
                    self._hang_up()
                    return
                self._output(got)
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
            self._hang_up()

    def _hang_up(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            try:
                os.write(self._wake_w, b"x")
            except OSError:  # the relay already finished and closed its pipe
                pass

    def _send(self, data: bytes) -> bool:
        while data and not self._closed.is_set():
            try:
                sent = self._stream.send(data)
            except libvirt.libvirtError:
                self._hang_up()
                return False
            if sent == -2:  # the stream's buffer is full: the guest reads slowly
                time.sleep(0.01)
                continue
            data = data[sent:]
        return not self._closed.is_set()

    def run(self, input_fd: int) -> str:
        """Relay until Ctrl-] (returns "left") or the stream ends ("closed")."""
        events = (
            libvirt.VIR_STREAM_EVENT_READABLE
            | libvirt.VIR_STREAM_EVENT_ERROR
            | libvirt.VIR_STREAM_EVENT_HANGUP
        )
        self._stream.eventAddCallback(events, self._on_event, None)
        try:
            while not self._closed.is_set():
                ready, _, _ = select.select([input_fd, self._wake_r], [], [])
                if input_fd not in ready:
                    continue
                typed = os.read(input_fd, 4096)
                if not typed:  # input closed (piped stdin ran out)
                    return "left"
                before, escape, _ = typed.partition(ESCAPE)
                if before and not self._send(before):
                    break
                if escape:
                    return "left"
            self.reason = "closed"
            return self.reason
        finally:
            try:
                self._stream.eventRemoveCallback()
            except libvirt.libvirtError:
                pass
            os.close(self._wake_r)
            os.close(self._wake_w)
