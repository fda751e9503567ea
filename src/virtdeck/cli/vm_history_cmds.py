"""``vm history`` and ``vm restore``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from .context import console, engine, print_diff
from .options import JsonOpt, NameArg

app = typer.Typer()


@app.command("history")
def history(
    ctx: typer.Context,
    name: NameArg,
    diff: Annotated[bool, typer.Option("--diff/--no-diff", help="Show each change.")] = True,
    show: Annotated[
        int | None, typer.Option("--show", metavar="N", help="Print version N's XML.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every earlier definition of a VM, with what changed (also of deleted VMs)."""
    eng = engine(ctx)
    if show is not None:
        print(eng.vm_history_xml(name, show), end="")
        return
    entries = eng.vm_history(name)
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    for entry in entries:
        when = entry.created_at.strftime("%Y-%m-%d %H:%M:%S")
        gone = "  [red](VM deleted)[/]" if entry.deleted else ""
        console.print(f"[bold]version {entry.version}[/]  {when}  {escape(entry.action)}{gone}")
        if diff and entry.diff:
            print_diff(entry.diff)


@app.command("restore")
def restore(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            metavar="N",
            help="Version to bring back (default: the one before the last change, "
            "or the last one of a deleted VM).",
        ),
    ] = None,
) -> None:
    """Bring a deleted or changed VM's definition back from its history."""
    result = engine(ctx).vm_restore(name, version)
    what = "restored deleted VM" if result.was_deleted else "restored"
    console.print(f"VM {name}: {what} from version {result.version}")
    if result.running:
        console.print("  it is running: the restored definition applies from its next start")
    for path in result.disks_present:
        console.print(f"  disk present: {escape(path)}")
    for path in result.disks_missing:
        console.print(
            f"  [yellow]disk gone:[/] {escape(path)} (recreate or remove it before start)"
        )
