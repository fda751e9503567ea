"""Arguments and options shared by the command modules.

Every number the CLI takes has bounds (``min=``/``max=``), so a number out
of range is a usage error from Click, never an overflow deep in SQLite or
libvirt; tests/unit/hostile/test_output_input.py walks the command tree to
keep it so.
"""

from __future__ import annotations

from typing import Annotated

import typer

from virtdeck.errors import InvalidInput
from virtdeck.model import SizeError, parse_size

from .context import AppState

# Seconds a command waits at most: a day.
TIMEOUT_MAX = 86400.0
# History versions and operation ids are SQLite integers.
VERSION_MAX = 2**31 - 1
ID_MAX = 2**63 - 1


def _json_requested(ctx: typer.Context, value: bool) -> bool:
    """--json also makes errors JSON (cli/main.py reads the flag)."""
    if value:
        ctx.ensure_object(AppState).json_errors = True
    return value


NameArg = Annotated[str, typer.Argument(metavar="NAME", help="VM name.")]
# Eager: the flag is set before the other parameters are checked, so that a
# bad value of one of them is reported as JSON too.
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON.", callback=_json_requested, is_eager=True)
]
JsonLinesOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="One JSON object per line.", callback=_json_requested, is_eager=True
    ),
]


def size_option(value: str, label: str) -> int:
    """Bytes from a size a person typed; a bare number means MiB, as in virsh."""
    try:
        return parse_size(value, default_unit="M")
    except SizeError as exc:
        raise InvalidInput(f"{label}: {exc}") from exc
