"""What every command shares: settings, a lazily built engine, its progress line.

The consoles and everything that prints results live in cli/render.py; the
names are re-exported here for the modules and tests that import them from
this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from virtdeck.engine import Engine, EngineApi
from virtdeck.settings import Settings

from .remote import choose_remote
from .render import console, err_console, print_diff, print_error, print_fields

__all__ = [
    "AppState",
    "console",
    "engine",
    "err_console",
    "print_diff",
    "print_error",
    "print_fields",
]


@dataclass
class AppState:
    uri: str | None = None
    domain_type: str | None = None
    # Set by the --json option's callback (cli/options.py): errors are then
    # one JSON object on stderr. A flag, not a look at sys.argv, so that an
    # argument whose value is "--json" cannot switch it on.
    json_errors: bool = False
    # A virtdeck server to go through instead (--server, VIRTDECK_SERVER or a
    # stored login), and the token for it.
    server: str | None = None
    token: str | None = None
    _engine: EngineApi | None = field(default=None, repr=False)

    @property
    def engine(self) -> EngineApi:
        """The engine, built on first use; the CLI sees only its interface.

        In-process by default; the same interface over HTTP when a server is
        chosen (cli/remote.py says when).
        """
        if self._engine is None:
            remote = choose_remote(self.server, self.token, self.uri)
            if remote is not None:
                from virtdeck.client import HttpEngine  # noqa: PLC0415 - httpx only when remote

                self._engine = HttpEngine(remote.server, remote.token, remote.verify)
            else:
                settings = Settings.from_env(uri=self.uri, domain_type=self.domain_type)
                self._engine = Engine(settings)
        return self._engine

    @property
    def is_remote(self) -> bool:
        return choose_remote(self.server, self.token, self.uri) is not None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def engine(ctx: typer.Context) -> EngineApi:
    state: AppState = ctx.ensure_object(AppState)
    return state.engine
