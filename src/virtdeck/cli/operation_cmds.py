"""``virtdeck operation ...``: long work (create, clone, snapshot) and how it ended."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from virtdeck.engine.schemas import OperationInfo

from .context import console, engine, print_fields
from .options import ID_MAX, JsonOpt

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
        print(json.dumps([op.model_dump(mode="json") for op in ops], indent=2))
        return
    if not ops:
        console.print("no operations yet")
        return
    header = "ID    KIND             TARGET           STATE        STARTED              TOOK"
    console.print(Text(header, style="bold"))
    for op in ops:
        line = Text.assemble(
            f"{op.id:<5} {op.kind:<16} {op.target:<16} ",
            (f"{op.state:<12}", _STYLE[op.state]),
            f" {_when(op)}  {_took(op)}",
        )
        console.print(line, soft_wrap=True)
        detail = op.error or (f"{op.step} ({op.progress}%)" if op.state == "running" else "")
        if detail:
            console.print(Text.assemble("      ", (detail, "dim")), soft_wrap=True)


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
        print(op.model_dump_json(indent=2))
        return
    rows = [
        ("ID", str(op.id)),
        ("Kind", op.kind),
        ("Target", op.target),
        ("State", op.state),
        ("Step", f"{op.step} ({op.progress}%)"),
        ("Started", _when(op)),
        ("Took", _took(op)),
        ("Error", op.error or "-"),
        ("Pending", ", ".join(op.pending) or "-"),
    ]
    print_fields(rows)
