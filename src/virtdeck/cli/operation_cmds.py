"""``virtdeck operation ...``: long work (create, clone, snapshot) and how it ended."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from virtdeck.engine.schemas import OperationInfo

from .context import engine
from .errors import option_of
from .options import ID_MAX, JsonOpt
from .render import Row, console, print_fields, print_json, print_table

app = typer.Typer(
    help="Long operations (create, clone, snapshot): progress and outcome.",
    no_args_is_help=True,
)

_STYLE = {"running": "cyan", "succeeded": "green", "failed": "red", "interrupted": "yellow"}


def _when(op: OperationInfo) -> str:
    return op.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _took(op: OperationInfo) -> str:
    if op.ended_at is None or op.state == "interrupted":
        return "-"  # an interrupted one ended unseen; recovery only noticed later
    return f"{(op.ended_at - op.started_at).total_seconds():.1f}s"


@app.command("list")
def list_operations(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=10000, help="How many, newest first.")
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The newest operations on this host; interrupted ones are cleaned up first."""
    ops = engine(ctx).list_operations(limit)
    if as_json:
        print_json(ops)
        return
    if not ops:
        console.print("no operations yet")
        return
    rows = [
        Row(
            (
                str(op.id),
                op.kind,
                op.target,
                Text(op.state, style=_STYLE[op.state]),
                _when(op),
                _took(op),
            ),
            # Under the row: why it failed, or how far a running one is.
            Text(_detail(op), style="dim"),
        )
        for op in ops
    ]
    print_table(rows, header=("ID", "KIND", "TARGET", "STATE", "STARTED", "TOOK"))


def error_text(op: OperationInfo) -> str:
    """The error as the CLI words it: the fields it names as this CLI's options."""
    if not op.error_parts:
        return op.error
    return "".join(option_of(p.text) if p.field else p.text for p in op.error_parts)


def _detail(op: OperationInfo) -> str:
    if op.error:
        return error_text(op)
    return f"{op.step} ({op.progress}%)" if op.state == "running" else ""


@app.command("show")
def show(
    ctx: typer.Context,
    op_id: Annotated[
        int,
        typer.Argument(metavar="ID", min=1, max=ID_MAX, help="Its number in 'operation list'."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """One operation in full."""
    op = engine(ctx).get_operation(op_id)
    if as_json:
        print_json(op)
        return
    rows = [
        ("ID", str(op.id)),
        ("Kind", op.kind),
        ("Target", op.target),
        ("State", op.state),
        ("Step", f"{op.step} ({op.progress}%)"),
        ("Started", _when(op)),
        ("Took", _took(op)),
        ("Error", error_text(op) or "-"),
        ("Pending", ", ".join(op.pending) or "-"),
    ]
    print_fields(rows)
