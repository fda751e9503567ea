"""The one exception family of virtdeck.

Every error carries a message that says what was wrong and what to do about
it, and a stable ``code`` (``not_found``, ``conflict``, ...) that scripts and
the API's problem bodies can rely on while the wording of messages changes.
The CLI prints the message (or, after ``--json``, a JSON object with the
code) and exits with ``exit_code``; the API (later) maps each class to one
HTTP status. libvirt errors are translated in one place,
``virtdeck.host.connection.translate``.
"""

from __future__ import annotations


class VirtdeckError(Exception):
    """Base of every error virtdeck reports to a user."""

    code = "error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    code = "unsupported"
    exit_code = 5
    http_status = 501


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
