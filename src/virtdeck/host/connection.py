"""One libvirt connection, kept alive, and libvirt errors translated in one place.

``Host`` opens its connection lazily and opens it again when libvirtd went
away (a restart, a crash): the next call after the daemon is back simply
works. Every libvirt error that leaves this layer is a ``VirtdeckError``
with a sentence a user can act on.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

import libvirt

from virtdeck.errors import (
    Conflict,
    HostUnavailable,
    InvalidInput,
    NotFound,
    OperationFailed,
    Unsupported,
    VirtdeckError,
    opt,
)

from . import preconnect
from .eventloop import ensure_event_loop

log = logging.getLogger(__name__)
T = TypeVar("T")


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; we report them ourselves."""


libvirt.registerErrorHandler(_quiet, None)

_GONE = {
    libvirt.VIR_ERR_NO_DOMAIN: "VM",
    libvirt.VIR_ERR_NO_NETWORK: "network",
    libvirt.VIR_ERR_NO_STORAGE_POOL: "storage pool",
    libvirt.VIR_ERR_NO_STORAGE_VOL: "volume",
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT: "snapshot",
}
_BAD_INPUT = {
    libvirt.VIR_ERR_XML_ERROR,
    libvirt.VIR_ERR_XML_DETAIL,
    libvirt.VIR_ERR_INVALID_ARG,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
    libvirt.VIR_ERR_INVALID_MAC,
    libvirt.VIR_ERR_XML_INVALID_SCHEMA,
}
_UNSUPPORTED = {
    libvirt.VIR_ERR_NO_SUPPORT,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
}
_BUSY = {
    libvirt.VIR_ERR_OPERATION_INVALID,
    libvirt.VIR_ERR_DOM_EXIST,
    libvirt.VIR_ERR_NETWORK_EXIST,
    libvirt.VIR_ERR_STORAGE_VOL_EXIST,
    libvirt.VIR_ERR_OPERATION_TIMEOUT,
    libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
}
# Error codes/domains that mean the connection itself is broken.
_DISCONNECTED_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN}
_RPC_DOMAINS = {libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE}


def is_disconnect(exc: libvirt.libvirtError) -> bool:
    code = exc.get_error_code()
    if code in _DISCONNECTED_CODES:
        return True
    if exc.get_error_domain() in _RPC_DOMAINS and code == libvirt.VIR_ERR_SYSTEM_ERROR:
        return True
    message = (exc.get_error_message() or "").lower()
    return "connection" in message and ("closed" in message or "reset" in message)


def translate(exc: libvirt.libvirtError, action: str) -> VirtdeckError:
    """Turn a libvirt error into our family; ``action`` says what we were doing."""
    code = exc.get_error_code()
    # libvirt's schema errors span lines; a user gets one sentence.
    detail = " ".join((exc.get_error_message() or str(exc)).split())
    if code in _GONE:
        return NotFound(f"cannot {action}: {detail}")
    if code in _BAD_INPUT:
        # Only XML errors are about a definition; a bad argument or flag is not.
        what = "the request" if code == libvirt.VIR_ERR_INVALID_ARG else "the definition"
        return InvalidInput(f"cannot {action}: libvirt refused {what}: {detail}")
    if code in _UNSUPPORTED:
        return Unsupported(f"cannot {action}: this host does not support it: {detail}")
    if code in _BUSY:
        return Conflict(f"cannot {action}: {detail}")
    if is_disconnect(exc):
        return HostUnavailable(
            f"cannot {action}: the connection to libvirtd was lost ({detail}); "
            "check that libvirtd is running"
        )
    return OperationFailed(f"cannot {action}: {detail}")


def is_local_uri(uri: str) -> bool:
    """True when the URI names this machine (no host part, or a test driver)."""
    parsed = urlparse(uri)
    return not parsed.hostname or parsed.hostname in ("localhost", "127.0.0.1", "::1")


def _connect_hint(uri: str, detail: str) -> str:
    lowered = detail.lower()
    if (
        "no such file" in lowered
        or "connection refused" in lowered
        or "failed to connect" in lowered
    ):
        return (
            f"cannot connect to libvirt at {uri}: libvirtd is not running there; start it "
            "('virtlogd -d && libvirtd -d', or 'systemctl start libvirtd') or give another "
            f"libvirt URI ({opt('uri')})"
        )
    if "permission denied" in lowered or "authentication" in lowered:
        return (
            f"cannot connect to libvirt at {uri}: permission denied; run as root or as a "
            "member of the 'libvirt' group"
        )
    if "no connection driver" in lowered or "unsupported" in lowered or "no driver" in lowered:
        return (
            f"cannot connect to libvirt at {uri}: no libvirt driver handles this URI; "
            "use a URI such as qemu:///system or qemu+ssh://host/system"
        )
    return f"cannot connect to libvirt at {uri}: {detail}"


@dataclass
class _Opening:
    """A connection being opened in a thread of its own (``Host.open_wait``)."""

    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


class Host:
    """One hypervisor reached through one libvirt URI."""

    def __init__(self, uri: str, opener: Callable[[str], Any] | None = None) -> None:
        self.uri = uri
        self._opener = opener or libvirt.open
        self._adopts_early = opener is None
        self._conn: Any = None
        self._lock = threading.RLock()
        # How long a caller waits for a new connection; None: as long as it takes.
        self.open_wait: float | None = None
        self._opening: _Opening | None = None

    @property
    def is_local(self) -> bool:
        return is_local_uri(self.uri)

    @property
    def is_test_driver(self) -> bool:
        return self.uri.startswith("test://")

    def _open(self) -> Any:
        ensure_event_loop()
        try:
            # The console script may have started this open before the CLI
            # loaded (see preconnect); a connection it made is used once.
            conn = preconnect.take(self.uri) if self._adopts_early else None
            if conn is None:
                conn = self._opener(self.uri)
        except libvirt.libvirtError as exc:
            raise HostUnavailable(
                _connect_hint(self.uri, exc.get_error_message() or str(exc))
            ) from exc
        if conn is None:  # pragma: no cover - old bindings returned None
            raise HostUnavailable(f"cannot connect to libvirt at {self.uri}")
        return conn

    @property
    def conn(self) -> Any:
        """The live ``virConnect``, opened again if libvirtd restarted.

        With ``open_wait`` set, a new connection is opened in a thread of its
        own and a caller waits for it at most that long: a libvirtd that is
        starting (it accepts a connection but answers it only once its
        drivers are up) or stopped holds its callers for seconds or for ever
        otherwise, one after the other behind this lock. The caller then gets
        HostUnavailable; the open goes on, and once it succeeds the next
        caller finds its connection.
        """
        with self._lock:
            if self._conn is not None:
                try:
                    alive = self._conn.isAlive()
                except libvirt.libvirtError:
                    alive = False
                if not alive:
                    log.info("libvirt connection to %s was lost; reconnecting", self.uri)
                    self._drop()
            if self._conn is not None:
                return self._conn
            if self.open_wait is None:
                self._conn = self._open()
                return self._conn
            opening = self._opening
            if opening is None:
                opening = self._opening = _Opening()
                threading.Thread(
                    target=self._open_for, args=(opening,), name="libvirt-open", daemon=True
                ).start()
        if not opening.done.wait(self.open_wait):
            raise HostUnavailable(
                f"libvirtd at {self.uri} did not answer a new connection within "
                f"{self.open_wait:g} s (it may be starting, overloaded or stopped); "
                "try again in a moment"
            )
        with self._lock:
            if opening.error is not None:
                # A copy: several callers may raise what one open found.
                raise copy.copy(opening.error) from opening.error
            if self._conn is None:
                raise HostUnavailable(
                    f"the new connection to libvirtd at {self.uri} was lost at once; "
                    "check that libvirtd is running"
                )
            return self._conn

    def _open_for(self, opening: _Opening) -> None:
        """``conn``'s background open: the connection becomes the host's, or is closed."""
        conn: Any = None
        try:
            conn = self._open()
        except Exception as exc:  # handed to the callers waiting on it
            opening.error = exc
        with self._lock:
            current = self._opening is opening
            if current:
                self._opening = None
                if conn is not None and self._conn is None:
                    self._conn, conn = conn, None
        opening.done.set()
        if conn is not None:  # the host closed meanwhile, or has another connection
            try:
                conn.close()
            except libvirt.libvirtError:
                pass

    def connected(self) -> bool | None:
        """Whether the open connection is alive; None when none is open. Never opens one."""
        conn = self._conn
        if conn is None:
            return None
        try:
            return bool(conn.isAlive())
        except libvirt.libvirtError:
            return False

    def current_conn(self) -> Any:
        """The connection open now, or None; never opens one."""
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass

    def call(self, action: str, fn: Callable[[Any], T], retry: bool = True) -> T:
        """Run ``fn(conn)``; on a dropped connection reconnect and retry once.

        ``retry`` must be False for calls that are not safe to repeat.
        """
        try:
            return fn(self.conn)
        except libvirt.libvirtError as exc:
            if retry and is_disconnect(exc):
                self._drop()
                try:
                    return fn(self.conn)
                except libvirt.libvirtError as again:
                    raise translate(again, action) from again
            raise translate(exc, action) from exc

    def close(self) -> None:
        with self._lock:
            self._opening = None  # an open still under way closes what it gets
            self._drop()

    def versions(self) -> tuple[str, str]:
        """(libvirt version, hypervisor version) as dotted strings."""

        def dotted(number: int) -> str:
            return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"

        lib = self.call("read the libvirt version", lambda c: c.getLibVersion())
        hv = self.call("read the hypervisor version", lambda c: c.getVersion())
        return dotted(lib), dotted(hv)
