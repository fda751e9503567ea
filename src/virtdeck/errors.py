"""The one exception family of virtdeck.

Every error carries a message that says what was wrong and what to do about
it, and a stable ``code`` (``not_found``, ``conflict``, ...) that scripts and
the API's problem bodies can rely on while the wording of messages changes.
The CLI prints the message (or, after ``--json``, a JSON object with the
code) and exits with ``exit_code``; the API (later) maps each class to one
HTTP status. libvirt errors are translated in one place,
``virtdeck.host.connection.translate``; pydantic's ValidationError in one
place, ``virtdeck.engine.validation``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

# A request field named inside a message, marked so that each front end can
# name it its own way: the CLI as its option (--max-memory), the API as the
# JSON field (max_memory_bytes). NUL cannot occur in a path, a name or a
# libvirt message, so no text that comes from elsewhere is ever taken for one.
_FIELD_MARK = re.compile("\x00([a-z_]+)\x00")


def opt(name: str) -> str:
    """``name`` (a request field) for a message: ``f"or give {opt('force')}"``."""
    return f"\x00{name}\x00"


def marked_parts(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (words, False) and (field name, True) pieces, in order.

    The form in which a message with fields is stored (a database takes no
    NUL) and sent, so that a front end can spell its fields later.
    """
    pieces = _FIELD_MARK.split(text)
    # split() alternates: text, field, text, field, ..., text.
    return [(piece, index % 2 == 1) for index, piece in enumerate(pieces) if piece]


def field_named(what: str) -> str | None:
    """The request field ``what`` is (``opt("iso")`` -> "iso"); None for plain words.

    Host functions that check a value take ``what``, the words their
    messages use for it; an error about a value that came in a field names
    that field in ``field``, so the API can point at it.
    """
    parts = marked_parts(what)
    if len(parts) == 1 and parts[0][1]:
        return parts[0][0]
    return None


# What a user can do next, named once for every front end. The CLI words a
# hint as a command line ('virtdeck vm stop web1'), the API as a link or an
# action name, the web console as a button; the engine only names it.
HintAction = Literal[
    "vm.start",
    "vm.stop",
    "vm.stop.force",
    "vm.resume",
    "vm.pause",
    "vm.reboot.force",
    "vm.delete.force",
    "vm.rename",
    "vm.list",
    "vm.show",
    "vm.log",
    "vm.edit",
    "vm.console",
    "vm.console.force",
    "vm.vnc",
    "vm.set-cpus.config",
    "vm.set-max-cpus",
    "vm.set-max-memory",
    "vm.snapshot.create",
    "vm.snapshot.delete",
    "vm.disk.list",
    "vm.nic.list",
    "vm.history",
    "vm.restore",
    "operation.list",
    "host.check",
    "retry",
]


@dataclass(frozen=True)
class Hint:
    """One next step: an action, the VM it concerns, and the values it takes."""

    action: HintAction
    vm: str | None = None
    args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))


class VirtdeckError(Exception):
    """Base of every error virtdeck reports to a user.

    ``message`` says what was wrong in words that suit every front end: no
    command lines, and a request field it names is marked with ``opt()``,
    so that ``render`` spells it as the CLI option (``--max-memory``) or the
    API field (``max_memory_bytes``). ``field`` is the request field the error
    concerns, where there is one; ``hint`` is the next step, as data.
    """

    code = "error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None, hint: Hint | None = None) -> None:
        self.template = message
        self.message = self.render(lambda name: f"'{name}'")
        super().__init__(self.message)
        self.field = field
        self.hint = hint

    def render(self, field_name: Callable[[str], str]) -> str:
        """The message with each field it names spelt by ``field_name`` (a front end's words)."""
        return _FIELD_MARK.sub(lambda m: field_name(m.group(1)), self.template)

    @property
    def fields(self) -> list[str]:
        """The request fields the message names, in order."""
        return _FIELD_MARK.findall(self.template)


class NotFound(VirtdeckError):
    code = "not_found"
    exit_code = 2
    http_status = 404


class Conflict(VirtdeckError):
    code = "conflict"
    exit_code = 3
    http_status = 409


class InvalidInput(VirtdeckError):
    code = "invalid_input"
    exit_code = 4
    http_status = 422


class Unsupported(VirtdeckError):
    """Valid to ask, but not on this host or of this VM (no UEFI firmware, ...)."""

    code = "unsupported"
    exit_code = 5
    http_status = 422


class HostUnavailable(VirtdeckError):
    """libvirtd cannot be reached (not running, wrong URI, no permission)."""

    code = "host_unavailable"
    exit_code = 6
    http_status = 503


class OperationFailed(VirtdeckError):
    """libvirt or QEMU refused or failed an action that was valid to ask for."""

    code = "operation_failed"
    exit_code = 7
    http_status = 500


class Timeout(VirtdeckError):
    code = "timeout"
    exit_code = 8
    http_status = 504


class Interrupted(VirtdeckError):
    """Ctrl-C stopped a long operation; the message says what it removed and kept.

    Exit status 130, as a shell reports a command that SIGINT ended.
    """

    code = "interrupted"
    exit_code = 130
    http_status = 500

    @classmethod
    def twice(cls, left: list[str]) -> Interrupted:
        """A second Ctrl-C during the clean-up: what is left is for the next command.

        ``left`` lists what the operation had made, as ``OperationInfo.pending``
        words it; the engine (stopped inside the clean-up) and the CLI (stopped
        while waiting for it) say the same.
        """
        return cls(
            "stopped with Ctrl-C, and again while removing what it had made; "
            f"the next virtdeck command removes what is left of {', '.join(left) or 'nothing'}"
        )


class Unauthenticated(VirtdeckError):
    """No credentials, or ones that are wrong, expired or revoked (which, it never says)."""

    code = "unauthenticated"
    exit_code = 9
    http_status = 401


class Forbidden(VirtdeckError):
    """The caller is known, but its role does not allow this."""

    code = "forbidden"
    exit_code = 10
    http_status = 403


class PreconditionFailed(VirtdeckError):
    """The definition changed since the caller read it (a stale If-Match)."""

    code = "precondition_failed"
    exit_code = 11
    http_status = 412


class RateLimited(VirtdeckError):
    """Too many attempts (failed logins) in a short time; wait and try again."""

    code = "rate_limited"
    exit_code = 12
    http_status = 429


ERRORS_BY_CODE: dict[str, type[VirtdeckError]] = {
    cls.code: cls
    for cls in (
        VirtdeckError,
        NotFound,
        Conflict,
        InvalidInput,
        Unsupported,
        HostUnavailable,
        OperationFailed,
        Timeout,
        Interrupted,
        Unauthenticated,
        Forbidden,
        PreconditionFailed,
        RateLimited,
    )
}


def error_from_code(code: str, message: str) -> VirtdeckError:
    """The error a recorded operation failed with, as its own class (by its stable code)."""
    return ERRORS_BY_CODE.get(code, VirtdeckError)(message)
