"""Consoles: interactive serial console, graphics address, screenshots."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, OperationFailed, opt
from virtdeck.host import screenshot
from virtdeck.host.console import SerialConsole
from virtdeck.model import Domain

from ..context import HostContext
from ..definitions import Definitions
from ..schemas import GraphicsDisplay, GraphicsInfo, ScreenshotResult


class ConsoleService:
    def __init__(self, ctx: HostContext, defs: Definitions) -> None:
        self.defs = defs
        self.host = ctx.host

    def open_console(self, name: str, force: bool = False) -> SerialConsole:
        """The VM's serial console as a stream; ``force`` takes it from another client.

        Returns a live session rather than a model: the caller relays bytes
        through its ``relay`` method (or ``send``/``expect``) and closes it.
        """
        dom = self.defs.lookup(name)
        if not dom.is_active():
            raise Conflict(
                f"VM {name} is not running; start it to use its console",
                hint=Hint("vm.start", vm=name),
            )
        live = Domain.from_xml(dom.xml())
        if not live.serials and not live.consoles:
            raise NotFound(
                f"VM {name} has no serial console; use its graphics",
                hint=Hint("vm.vnc", vm=name),
            )
        return SerialConsole(self.host, name, force=force)

    def graphics_info(self, name: str, show_password: bool = False) -> GraphicsInfo:
        dom = self.defs.lookup(name)
        running = dom.is_active()
        # The live XML of a running VM holds the ports QEMU really got; only
        # the secure form shows whether a password is set.
        try:
            xml = dom.xml(secure=True)
        except OperationFailed:  # a read-only connection may not read secrets
            xml = dom.xml()
        model = Domain.from_xml(xml)
        if not model.graphics:
            raise NotFound(
                f"VM {name} has no graphics (created with {opt('graphics')} none); "
                "use its serial console",
                hint=Hint("vm.console", vm=name),
            )
        displays = []
        for g in model.graphics:
            kind = g.type or "?"
            # Before the first start an autoport VM shows port -1.
            port = g.port if g.port is not None and g.port > 0 else None
            address = g.address or ("127.0.0.1" if kind in ("vnc", "spice") else None)
            tls_port = g.node.get("tlsPort")
            displays.append(
                GraphicsDisplay(
                    type=kind,
                    address=address,
                    port=port,
                    autoport=bool(g.autoport) or g.port == -1,
                    tls_port=int(tls_port) if tls_port and int(tls_port) > 0 else None,
                    password_set=g.password is not None,
                    password=g.password if show_password else None,
                    uri=f"{kind}://{_host_part(address)}:{port}" if port and address else None,
                )
            )
        return GraphicsInfo(name=name, running=running, displays=displays)

    def screenshot(self, name: str, path: str) -> ScreenshotResult:
        """Save the VM's screen as a PNG at ``path`` (written whole or not at all)."""
        target = Path(path)
        if target.suffix.lower() != ".png":
            raise InvalidInput(f"{path}: the screenshot is a PNG image; give a FILE.png name")
        if not target.parent.is_dir():
            raise InvalidInput(f"{path}: directory {target.parent} does not exist; create it first")
        dom = self.defs.lookup(name)
        if not dom.is_active():
            raise Conflict(
                f"VM {name} is not running, so it has no screen",
                hint=Hint("vm.start", vm=name),
            )
        image = screenshot.take(dom)
        # A temporary file then rename: an interrupted run leaves no half image.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(image.png)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ScreenshotResult(
            name=name,
            path=str(target.resolve()),
            width=image.width,
            height=image.height,
            bytes=len(image.png),
        )


def _host_part(address: str) -> str:
    return f"[{address}]" if ":" in address else address
