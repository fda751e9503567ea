"""``vm snapshot create|list|revert|delete`` (virsh snapshot-* names work too)."""

from __future__ import annotations

from typing import Annotated

import typer

from virtdeck.engine.schemas import SnapshotInfo

from .context import engine
from .options import JsonOpt, NameArg
from .render import console, print_json, print_table
from .waiting import wait_for

app = typer.Typer()
snap_app = typer.Typer(
    help="Snapshots of a VM: with memory while it runs, or --disk-only.", no_args_is_help=True
)
app.add_typer(snap_app, name="snapshot")

SnapArg = Annotated[str, typer.Argument(metavar="SNAP", help="Snapshot name.")]

_KIND_WORDS = {
    "memory": "memory+disks",
    "disk": "disks",
    "disk-only": "disk-only (external)",
}


@snap_app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    snapshot: Annotated[
        str | None,
        typer.Argument(metavar="[SNAP]", help="Snapshot name (default: the date and time)."),
    ] = None,
    disk_only: Annotated[
        bool,
        typer.Option(
            "--disk-only",
            help="Disks only, as external overlay files; libvirt 9.0 cannot revert to these.",
        ),
    ] = False,
    description: Annotated[
        str, typer.Option("--description", metavar="TEXT", help="A note kept with it.")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Take a snapshot (virsh snapshot-create-as): with memory when the VM runs."""
    op = engine(ctx).submit_snapshot(name, snapshot, disk_only=disk_only, description=description)
    snap = wait_for(ctx, op, SnapshotInfo)
    if as_json:
        print_json(snap)
        return
    console.print(f"Created snapshot {snap.name} of VM {name} ({_KIND_WORDS[snap.kind]})")
    for path in snap.overlays:
        console.print(f"  new overlay {path} now takes the writes")


def _when(snap: SnapshotInfo) -> str:
    return snap.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


@snap_app.command("list")
def list_(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """List a VM's snapshots, oldest first (virsh snapshot-list)."""
    snaps = engine(ctx).list_snapshots(name)
    if as_json:
        print_json(snaps)
        return
    if not snaps:
        console.print(f"VM {name} has no snapshots")
        return
    rows = []
    for snap in snaps:
        mark = " *" if snap.current else ""
        kind = _KIND_WORDS[snap.kind] + ("" if snap.revertible else ", no revert")
        rows.append(
            (
                snap.name + mark,
                _when(snap),
                snap.vm_state,
                kind,
                snap.parent or "-",
                snap.description or "-",
            )
        )
    print_table(rows, header=("NAME", "CREATED", "VM STATE", "CONTENTS", "PARENT", "DESCRIPTION"))
    if any(s.current for s in snaps):
        console.print("* the current snapshot (the one the VM last came from)")


@snap_app.command("revert")
def revert(ctx: typer.Context, name: NameArg, snapshot: SnapArg, as_json: JsonOpt = False) -> None:
    """Bring the VM back to a snapshot (virsh snapshot-revert): memory, disks, state."""
    result = engine(ctx).revert_snapshot(name, snapshot)
    if as_json:
        print_json(result)
        return
    console.print(f"VM {name} reverted to snapshot {snapshot}; it is {result.state}")


@snap_app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    snapshot: SnapArg,
    metadata_only: Annotated[
        bool,
        typer.Option(
            "--metadata-only",
            help="Forget the snapshot but keep its data (external overlays stay in the chain).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a snapshot; the VM as it is now stays untouched (virsh snapshot-delete)."""
    result = engine(ctx).delete_snapshot(name, snapshot, metadata_only=metadata_only)
    if as_json:
        print_json(result)
        return
    console.print(f"Deleted snapshot {snapshot} of VM {name}")
    for path in result.removed_files:
        console.print(f"  merged and removed {path}")


@snap_app.command("info", hidden=True)
def info(
    ctx: typer.Context,
    name: NameArg,
    snapshot: SnapArg,
    # JSON either way; the flag is taken so that errors are JSON too, as after
    # every other command's --json.
    as_json: JsonOpt = False,
) -> None:
    """One snapshot as JSON (virsh snapshot-info)."""
    print_json(engine(ctx).get_snapshot(name, snapshot))


# virsh's flat names: 'vm snapshot-create-as NAME SNAP', 'vm snapshot-list NAME', ...
app.command("snapshot-create-as", hidden=True)(create)
app.command("snapshot-create", hidden=True)(create)
app.command("snapshot-list", hidden=True)(list_)
app.command("snapshot-revert", hidden=True)(revert)
app.command("snapshot-delete", hidden=True)(delete)
app.command("snapshot-info", hidden=True)(info)
