"""What a client trusts: the system's CAs, or one server certificate pinned at login."""

from __future__ import annotations

import ssl


def trust(verify: bool | str | None) -> ssl.SSLContext | bool:
    """httpx's ``verify`` for a pinned certificate file (a path), or the system's CAs."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return True if verify is None else verify
