"""``vm console``, ``vm vnc``, ``vm screenshot``: reaching a VM's screen and serial line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Annotated

import typer

from virtdeck.engine.schemas import GraphicsDisplay

from .context import engine
from .options import JsonOpt, NameArg
from .render import console, err_console, print_fields, print_json

app = typer.Typer()


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    # Raising unwinds through the finally blocks that restore the terminal.
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    """Keys go to the guest as typed (Ctrl-C included); the terminal is restored on any exit."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _writer(fd: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        while data:
            data = data[os.write(fd, data) :]

    return write


@app.command("console")
def serial_console(
    ctx: typer.Context,
    name: NameArg,
    force: Annotated[
        bool,
        typer.Option("--force", help="Take the console over from another client holding it."),
    ] = False,
) -> None:
    """Type into the VM's serial console, like virsh console; Ctrl-] leaves."""
    session = engine(ctx).open_console(name, force=force)
    try:
        sys.stdout.write(f"Connected to {name}; Ctrl-] leaves\n")
        sys.stdout.flush()
        with _raw_terminal(sys.stdin.fileno()):
            how = session.relay(sys.stdin.fileno(), _writer(sys.stdout.fileno()))
    finally:
        session.close()
    sys.stdout.write("\n")
    if how == "closed":
        err_console.print(
            f"the console of {name} closed: the VM stopped or another client took it over"
        )


def _display_rows(display: GraphicsDisplay, running: bool) -> list[tuple[str, str]]:
    if display.port is not None:
        port = str(display.port)
    elif display.autoport:
        port = "autoport: assigned at start" if not running else "autoport: not assigned"
    else:
        port = "-"
    if display.password is not None:
        password = display.password
    elif display.password_set:
        password = "set (--show-password prints it)"
    else:
        password = "none"
    rows = [
        ("Type", display.type),
        ("Address", display.address or "-"),
        ("Port", port),
    ]
    if display.tls_port is not None:
        rows.append(("TLS port", str(display.tls_port)))
    rows.append(("Password", password))
    rows.append(("URI", display.uri or "-"))
    return rows


@app.command("vnc")
def vnc(
    ctx: typer.Context,
    name: NameArg,
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Print the graphics password itself.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Where a VNC/SPICE viewer connects to the VM, and whether a password is set."""
    info = engine(ctx).graphics_info(name, show_password=show_password)
    if as_json:
        print_json(info)
        return
    for index, display in enumerate(info.displays):
        if index:
            console.print()
        print_fields(_display_rows(display, info.running))


@app.command("screenshot")
def take_screenshot(
    ctx: typer.Context,
    name: NameArg,
    file: Annotated[str, typer.Argument(metavar="FILE.png", help="Where to save the PNG.")],
    as_json: JsonOpt = False,
) -> None:
    """Save the VM's screen as a PNG image."""
    shot = engine(ctx).screenshot(name, file)
    if as_json:
        print_json(shot)
        return
    console.print(
        f"Saved a {shot.width}x{shot.height} screenshot of {name} to {shot.path}", markup=False
    )
