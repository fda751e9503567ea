"""What every command shares: settings, a lazily built engine, the consoles."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import typer
from rich.console import Console

from virtdeck.engine import Engine
from virtdeck.engine.schemas import OperationInfo
from virtdeck.settings import Settings

# Piped output is not wrapped at 80 columns, so scripts can grep whole lines.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class AppState:
    uri: str | None = None
    domain_type: str | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            settings = Settings.from_env(uri=self.uri, domain_type=self.domain_type)
            self._engine = Engine(settings)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def print_diff(diff: str) -> None:
    """A unified diff, coloured when the output is a terminal."""
    # Pygments comes with Syntax; load it only when there is a diff to show.
    from rich.syntax import Syntax  # noqa: PLC0415

    console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


@contextlib.contextmanager
def progress(ctx: typer.Context) -> Iterator[Engine]:
    """The engine, with a long operation's steps shown on one status line.

    Only on a terminal (stderr): piped output and --json stay clean.
    """
    eng = engine(ctx)
    if not err_console.is_terminal:
        yield eng
        return
    with err_console.status("starting") as status:

        def show(op: OperationInfo) -> None:
            status.update(f"{op.kind} {op.target}: {op.step} ({op.progress}%)")

        eng.on_progress = show
        try:
            yield eng
        finally:
            eng.on_progress = None


def engine(ctx: typer.Context) -> Engine:
    state: AppState = ctx.ensure_object(AppState)
    return state.engine
