"""A VM's serial console through libvirt's console stream.

Works for local and remote hosts alike (no pty paths involved). Used by
tests to type into the appliance's root shell, and by ``vm console``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import libvirt

from virtdeck.errors import Conflict, Timeout

from .connection import Host, translate
from .domains import ACTIVE_STATES, lookup, state_of


class SerialConsole:
    def __init__(self, host: Host, name: str, force: bool = True) -> None:
        self.name = name
        dom = lookup(host, name)
        if state_of(dom) not in ACTIVE_STATES:
            raise Conflict(f"VM {name} is not running; start it to use its console")
        self._stream: Any = host.conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0
        try:
            dom.openConsole(None, self._stream, flags)
        except libvirt.libvirtError as exc:
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
