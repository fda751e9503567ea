"""What one running server holds: its engine, its settings, how it is reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from virtdeck.engine.engine import Engine
from virtdeck.settings import Settings


@dataclass
class Server:
    """The state every request shares; the app keeps it as ``app.state.server``.

    ``engine`` is the concrete ``Engine``, not only its interface: the server
    also needs what only a server does with it (accounts and sessions, the
    audit log, a definition's digest under its lock).
    """

    engine: Engine
    settings: Settings
    # Served over TLS: session cookies are then Secure.
    tls: bool = False
    # Origins a browser may open a websocket from (besides the server's own).
    allowed_origins: frozenset[str] = frozenset()
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
