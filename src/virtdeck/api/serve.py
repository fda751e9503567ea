"""Running the API server: where it listens, over what, with which engine."""

from __future__ import annotations

import ipaddress
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from virtdeck.engine.engine import Engine
from virtdeck.errors import InvalidInput
from virtdeck.settings import Settings

from . import tls
from .server import Server

DEFAULT_LISTEN = "127.0.0.1:8780"
# The longest a request waits for a new connection to libvirtd, in seconds.
OPEN_WAIT = 5.0


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def url(self, secure: bool) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if secure else 'http'}://{host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """``HOST:PORT`` or ``[IPv6]:PORT``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(
            f"listen address {text!r} is not HOST:PORT (a port 1-65535); "
            f"give one such as {DEFAULT_LISTEN}",
            field="listen",
        )
    return Listen(host, int(port))


def choose_tls(
    listen: Listen, settings: Settings, cert: Path | None, key: Path | None
) -> tls.TlsFiles | None:
    """The operator's certificate; else beyond loopback, virtdeck's own; else none."""
    chosen = tls.given(cert, key)
    if chosen is None and not listen.is_loopback:
        chosen = tls.self_signed(settings.data_dir / "tls", listen.host)
    return chosen


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in ("virtdeck", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def build_server(settings: Settings, secure: bool) -> Server:
    """An engine for the server, its stores opened now rather than by the first request."""
    engine = Engine(settings)
    _ = engine.host_id  # opens and migrates the database, and knows its host
    engine.recover_interrupted()
    # From now on a request waits for a new libvirt connection (libvirtd
    # restarting, or stopped) well within its deadline, then answers 503.
    engine.host.open_wait = min(OPEN_WAIT, settings.api_deadline / 2)
    return Server(engine=engine, settings=settings, tls=secure)


def run(settings: Settings, listen: Listen, files: tls.TlsFiles | None) -> None:
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from .app import create_app  # noqa: PLC0415

    _log_to_stderr()
    server = build_server(settings, files is not None)
    app = create_app(server)
    try:
        uvicorn.run(
            app,
            host=listen.host,
            port=listen.port,
            ssl_certfile=str(files.cert) if files else None,
            ssl_keyfile=str(files.key) if files else None,
            access_log=False,  # the app logs each request itself, without secrets
            log_config=None,
            server_header=False,
        )
    finally:
        server.engine.close()
