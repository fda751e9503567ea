"""``vm history`` and ``vm restore``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from .context import engine
from .options import VERSION_MAX, JsonOpt, NameArg
from .render import console, print_diff, print_json

if TYPE_CHECKING:
    from virtdeck.engine.schemas import HistoryEntry, VmHistory

app = typer.Typer()

UuidOpt = Annotated[
    str | None,
    typer.Option(
        "--uuid",
        metavar="UUID",
        help="The VM, when several have had NAME: its UUID, or the first 8 or more hex digits.",
    ),
]


def _when(entry_time: datetime) -> str:
    return entry_time.strftime("%Y-%m-%d %H:%M:%S")


def _heading(vm: VmHistory) -> Text:
    """``uuid U  exists now  named N since T``: which VM, where it is, when it had the name."""
    if vm.current:
        where, style = "exists now", "green"
    elif vm.exists:
        where, style = f"exists now as {vm.current_name}", "green"
    elif vm.deleted_at is not None:
        where, style = f"deleted {_when(vm.deleted_at)}", "red"
    else:
        where, style = "gone (undefined outside virtdeck)", "red"
    span = (
        f"named {vm.name} since {_when(vm.first_seen)}"
        if vm.current
        else f"named {vm.name} from {_when(vm.first_seen)} until {_when(vm.last_seen)}"
    )
    return Text.assemble((f"uuid {vm.uuid}", "bold"), "  ", (where, style), "  ", span)


def _version_line(entry: HistoryEntry, name: str) -> Text:
    line = Text.assemble(
        (f"version {entry.version}", "bold"),
        f"  {_when(entry.created_at)}  {entry.action}",
    )
    if entry.name != name:
        line.append(f"  (named {entry.name})")
    if entry.deleted:
        line.append("  (VM deleted)", style="red")
    return line


@app.command("history")
def history(
    ctx: typer.Context,
    name: NameArg,
    diff: Annotated[bool, typer.Option("--diff/--no-diff", help="Show each change.")] = True,
    show: Annotated[
        int | None,
        typer.Option("--show", metavar="N", min=1, max=VERSION_MAX, help="Print version N's XML."),
    ] = None,
    uuid: UuidOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every VM that has had NAME, each with its earlier definitions (also deleted VMs)."""
    eng = engine(ctx)
    if show is not None:
        print(eng.vm_history_xml(name, show, uuid), end="")
        return
    vms = eng.vm_histories(name, uuid)
    if as_json:
        print_json(vms)
        return
    for index, vm in enumerate(vms):
        if index:
            console.print()
        console.print(_heading(vm), soft_wrap=True)
        for entry in vm.versions:
            console.print(_version_line(entry, name), soft_wrap=True)
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
            min=1,
            max=VERSION_MAX,
            help="Version to bring back (default: the one before the last change, "
            "or the last one of a deleted VM).",
        ),
    ] = None,
    uuid: UuidOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring a deleted or changed VM's definition back from its history."""
    result = engine(ctx).vm_restore(name, version, uuid)
    if as_json:
        print_json(result)
        return
    what = "restored deleted VM" if result.was_deleted else "restored"
    console.print(Text(f"VM {result.name}: {what} from version {result.version}"))
    console.print(Text(f"  uuid {result.uuid}"))
    if result.running:
        console.print(Text("  it is running: the restored definition applies from its next start"))
    for note in result.notes:
        console.print(Text(f"  note: {note}"))
    for path in result.disks_present:
        console.print(Text(f"  disk present: {path}"))
    for path in result.disks_missing:
        console.print(
            Text.assemble(
                ("  disk gone:", "yellow"), f" {path} (recreate or remove it before start)"
            )
        )
