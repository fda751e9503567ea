"""``virtdeck apply -f vm.yaml``: create or converge a VM from a spec (top-level command)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from virtdeck.engine.schemas import SPEC_MAX_BYTES, ApplyResult
from virtdeck.engine.spec_plan import load_spec
from virtdeck.errors import InvalidInput

from .context import engine
from .options import JsonOpt
from .render import console, print_json, print_table

app = typer.Typer()

_HOW = {
    "create": "create",
    "live": "live: now and in the definition",
    "config": "in the definition",
    "restart": "in the definition: takes effect at the next restart",
    "now": "now",
    "start": "start the VM",
    "stop": "shut the VM down",
}


def _read(file: str) -> tuple[str, str]:
    """The spec's text, read no further than one byte past the limit.

    load_spec refuses a longer one; reading all of a 10 GB file (or an
    endless stdin) first would exhaust memory before that.
    """
    if file == "-":
        return sys.stdin.read(SPEC_MAX_BYTES + 1), "the spec on stdin"
    path = Path(file)
    try:
        with path.open(encoding="utf-8") as fh:
            return fh.read(SPEC_MAX_BYTES + 1), file
    except FileNotFoundError:
        raise InvalidInput(
            f"spec file {file} does not exist; give the path of a YAML spec"
        ) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read spec file {file}: {exc}") from exc


def _print(result: ApplyResult) -> None:
    name = result.name
    if result.created:
        console.print(f"VM {name} does not exist: create it with")
    elif result.steps:
        count = len(result.steps)
        console.print(f"VM {name}: {count} change{'s' if count != 1 else ''}")
    else:
        console.print(f"VM {name}: no changes")
    rows = [
        (s.key, s.wanted if result.created else f"{s.current} -> {s.wanted}", _HOW[s.how])
        for s in result.steps
    ]
    print_table(rows, indent=2)
    for note in result.notes:
        console.print(f"note: {note}")
    if result.dry_run:
        if result.steps:
            console.print("dry run: nothing was changed")
    elif result.steps:
        console.print(f"{'Created' if result.created else 'Applied'}; VM {name} is {result.state}")


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Option("--file", "-f", metavar="FILE", help="YAML spec of one VM ('-': stdin)."),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a VM from a YAML spec, or change an existing one to match it."""
    text, source = _read(file)
    result = engine(ctx).apply_spec(load_spec(text, source), dry_run=dry_run)
    if as_json:
        print_json(result)
    else:
        _print(result)
