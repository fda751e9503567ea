"""Consoles of a real appliance: the interactive serial console in a terminal, VNC, screenshots."""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import termios
import threading
import time
import zlib
from pathlib import Path

import pytest

from tests.cli_runner import virtdeck_command
from tests.integration.conftest import IsolatedNet, appliance_request, env_for_cli
from tests.integration.conftest import virtdeck as run_virtdeck
from tests.integration.guest import wait_ready
from virtdeck.engine import Engine
from virtdeck.errors import Conflict, Hint
from virtdeck.host.console import SerialConsole
from virtdeck.settings import Settings


class Terminal:
    """``virtdeck ARGS`` run in a pseudo-terminal, as a user at a terminal runs it."""

    def __init__(self, settings: Settings, *args: str) -> None:
        self.master, self.slave = os.openpty()
        self.cooked = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(
            virtdeck_command(*args),
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env_for_cli(settings),
            start_new_session=True,
        )
        self.seen = b""

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, wanted: bytes, timeout: float) -> None:
        """Read the terminal until ``wanted`` shows up; keep what follows it."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {wanted!r} within {timeout} s; saw {self.seen[-400:]!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the process ended and closed the terminal
                    if self.proc.poll() is not None:
                        raise AssertionError(
                            f"virtdeck exited ({self.proc.returncode}) before {wanted!r}; "
                            f"saw {self.seen[-400:]!r}"
                        ) from None
        self.seen = self.seen[self.seen.index(wanted) + len(wanted) :]

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def virtdeck(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_virtdeck(settings, *args, timeout=120)


def _relay_outcome(console: SerialConsole, timeout: float) -> str:
    """How a relay with nothing typed ends: "closed" when the stream is cut."""
    quiet, stop = os.pipe()
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(console.relay(quiet, len)))
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        os.write(stop, b"\x1d")  # still open: leave, and report it
        worker.join()
    os.close(quiet)
    os.close(stop)
    return outcome[0]


def test_console_in_a_terminal_types_into_the_guest_shell(
    engine: Engine, settings: Settings, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=180)

    # Another client holds the console: a plain 'vm console' is refused, --force takes over.
    holder = engine.open_console(vm_name)
    try:
        refused = virtdeck(settings, "vm", "console", vm_name)
        assert refused.returncode != 0
        assert refused.stderr.strip().splitlines() == [
            f"error: the console of {vm_name} is in use by another client; "
            f"--force takes it over ('virtdeck vm console {vm_name} --force')"
        ]
        with pytest.raises(Conflict, match="in use by another client") as info:
            engine.open_console(vm_name)
        assert info.value.hint == Hint("vm.console.force", vm=vm_name)

        term = Terminal(settings, "vm", "console", vm_name, "--force")
        try:
            term.expect(f"Connected to {vm_name}; Ctrl-] leaves".encode(), timeout=60)
            # The holder's stream is cut once --force took the console.
            assert _relay_outcome(holder, timeout=30) == "closed"
            term.type(b"\r")
            term.expect(b"appliance# ", timeout=60)
            # While connected the terminal is raw: no local echo, keys go to the guest.
            assert not termios.tcgetattr(term.slave)[3] & termios.ECHO
            term.type(b"echo $((6*7))\r")
            # The guest echoes the command line, then prints the result on its own line.
            term.expect(b"\r\n42\r\n", timeout=60)
            term.type(b"\x1d")
            assert term.wait(timeout=30) == 0
            assert termios.tcgetattr(term.slave) == term.cooked, "terminal not restored"
        finally:
            term.close()
    finally:
        holder.close()

    # Connected when the VM powers off: the session ends by itself, saying why.
    term = Terminal(settings, "vm", "console", vm_name)
    try:
        term.expect(b"Ctrl-] leaves", timeout=60)
        term.type(b"\r")
        term.expect(b"appliance# ", timeout=60)
        engine.stop_vm(vm_name, force=True)
        term.expect(f"the console of {vm_name} closed".encode(), timeout=60)
        assert term.wait(timeout=30) == 0
        assert termios.tcgetattr(term.slave) == term.cooked, "terminal not restored"
    finally:
        term.close()


def test_console_of_a_stopped_vm_is_one_sentence(
    engine: Engine, settings: Settings, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    result = virtdeck(settings, "vm", "console", vm_name)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: VM {vm_name} is not running; start it to use its console "
        f"('virtdeck vm start {vm_name}')"
    ]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and RGB pixels of an 8-bit RGB PNG (QEMU's own, or ours from PPM)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks: dict[bytes, bytes] = {}
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks[kind] = chunks.get(kind, b"") + data
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3
    assert len(raw) == (stride + 1) * height
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = row[x - 3] if x >= 3 else 0
            up = previous[x]
            up_left = previous[x - 3] if x >= 3 else 0
            predictor = (0, left, up, (left + up) // 2, _paeth(left, up, up_left))[kind]
            row[x] = (row[x] + predictor) & 0xFF
        rows.append(row)
        previous = row
    return width, height, b"".join(rows)


def test_vnc_address_and_screenshot_of_a_running_guest(
    engine: Engine, settings: Settings, test_net: IsolatedNet, vm_name: str, tmp_path: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, graphics="vnc"))
    wait_ready(engine, vm_name, timeout=180)

    info = engine.graphics_info(vm_name)
    [display] = info.displays
    assert info.running and display.type == "vnc" and display.address == "127.0.0.1"
    assert display.port is not None and display.port >= 5900
    assert display.uri == f"vnc://127.0.0.1:{display.port}"
    assert not display.password_set
    shown = virtdeck(settings, "vm", "vnc", vm_name, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["displays"][0]["port"] == display.port

    target = tmp_path / "screen.png"
    taken = virtdeck(settings, "vm", "screenshot", vm_name, str(target))
    assert taken.returncode == 0, taken.stderr
    width, height, rgb = _png_pixels(target.read_bytes())
    assert width > 0 and height > 0
    assert f"Saved a {width}x{height} screenshot of {vm_name}" in taken.stdout
    # The appliance writes its boot and status lines to tty0: the screen is not blank.
    pixels = {rgb[i : i + 3] for i in range(0, len(rgb), 3)}
    assert len(pixels) > 1


def test_vnc_of_a_stopped_vm_with_password(
    engine: Engine, settings: Settings, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(
        appliance_request(
            vm_name, test_net, graphics="vnc", graphics_password="pa55word", start=False
        )
    )
    shown = virtdeck(settings, "vm", "vnc", vm_name)
    assert shown.returncode == 0, shown.stderr
    assert "autoport: assigned at start" in shown.stdout
    assert "set (--show-password prints it)" in shown.stdout
    assert "pa55word" not in shown.stdout
    revealed = virtdeck(settings, "vm", "vnc", vm_name, "--show-password", "--json")
    assert json.loads(revealed.stdout)["displays"][0]["password"] == "pa55word"

    headless = f"{vm_name}-nogfx"
    engine.create_vm(appliance_request(headless, test_net, start=False))
    try:
        result = virtdeck(settings, "vm", "vnc", headless)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [
            f"error: VM {headless} has no graphics (created with --graphics none); "
            f"use its serial console ('virtdeck vm console {headless}')"
        ]
    finally:
        engine.delete_vm(headless, force=True)
