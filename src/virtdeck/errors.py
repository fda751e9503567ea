"""The one exception family of virtdeck.

Every error carries a message that says what was wrong and what to do about
it. The CLI prints the message and exits with ``exit_code``; the API (later)
maps each class to one HTTP status. libvirt errors are translated in one place,
``virtdeck.host.connection.translate``.
"""

from __future__ import annotations


class VirtdeckError(Exception):
    """Base of every error virtdeck reports to a user."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(VirtdeckError):
    exit_code = 2
    http_status = 404


class Conflict(VirtdeckError):
    exit_code = 3
    http_status = 409


class InvalidInput(VirtdeckError):
    exit_code = 4
    http_status = 422


class Unsupported(VirtdeckError):
    exit_code = 5
    http_status = 501


class HostUnavailable(VirtdeckError):
    """libvirtd cannot be reached (not running, wrong URI, no permission)."""

    exit_code = 6
    http_status = 503


class OperationFailed(VirtdeckError):
    """libvirt or QEMU refused or failed an action that was valid to ask for."""

    exit_code = 7
    http_status = 500


class Timeout(VirtdeckError):
    exit_code = 8
    http_status = 504
