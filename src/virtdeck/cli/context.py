"""What every command shares: settings, a lazily built engine, the consoles.

Nothing printed is ever read as Rich markup: both consoles have markup (and
highlighting and emoji codes) off, and a styled line is a ``rich.text.Text``
with its style given explicitly. A VM named ``rp-[red]x`` prints as itself, and
a libvirt message with ``[/x]`` in it cannot break the error line.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from virtdeck.engine import Engine
from virtdeck.engine.schemas import OperationInfo
from virtdeck.settings import Settings

# Piped output is not wrapped at 80 columns, so scripts can grep whole lines.
console = Console(
    markup=False, highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200
)
err_console = Console(stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True)


@dataclass
class AppState:
    uri: str | None = None
    domain_type: str | None = None
    # Set by the --json option's callback (cli/options.py): errors are then
    # one JSON object on stderr. A flag, not a look at sys.argv, so that an
    # argument whose value is "--json" cannot switch it on.
    json_errors: bool = False
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


def print_error(message: str, code: str, exit_code: int, as_json: bool) -> None:
    """One error: ``error: MESSAGE`` on stderr, or after --json one JSON object.

    The JSON form is ``{"error": {"code": ..., "message": ..., "exit_code": N}}``
    on a single line; ``code`` is the error class's stable code.
    """
    if as_json:
        body = {"error": {"code": code, "message": message, "exit_code": exit_code}}
        sys.stderr.write(json.dumps(body) + "\n")
        sys.stderr.flush()
        return
    err_console.print(Text.assemble(("error:", "bold red"), " ", message))


def _padded(cell: str, width: int) -> str:
    # cell_len, not len: a wide character takes two columns on a terminal.
    return cell + " " * (width - cell_len(cell))


def print_fields(rows: Sequence[tuple[str, str]]) -> None:
    """Label/value lines (``vm show``): labels bold and aligned, no trailing spaces.

    Not a Rich Table: that pads every cell to the column's width, so piped
    output had lines ending in spaces.
    """
    width = max((cell_len(label) for label, _ in rows), default=0)
    for label, value in rows:
        line = Text.assemble((_padded(label, width), "bold"), "  ", value)
        line.rstrip()
        console.print(line, soft_wrap=True)


def print_columns(rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns, the first row a bold header; no line ends in a space."""
    if not rows:
        return
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        line = Text("  ".join(_padded(c, w) for c, w in zip(row, widths, strict=True)))
        line.rstrip()
        if index == 0:
            line.stylize("bold")
        console.print(line, soft_wrap=True)


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
    # Text, not str: a Status reads a str as markup whatever the console says.
    with err_console.status(Text("starting")) as status:

        def show(op: OperationInfo) -> None:
            status.update(Text(f"{op.kind} {op.target}: {op.step} ({op.progress}%)"))

        eng.on_progress = show
        try:
            yield eng
        finally:
            eng.on_progress = None


def engine(ctx: typer.Context) -> Engine:
    state: AppState = ctx.ensure_object(AppState)
    return state.engine
