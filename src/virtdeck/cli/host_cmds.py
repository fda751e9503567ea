"""``virtdeck host ...``: checks of the hypervisor host."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .context import console, engine

app = typer.Typer(help="Check and inspect the hypervisor host.", no_args_is_help=True)

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Probe KVM again, ignoring the cached result.")
    ] = False,
) -> None:
    """Can this host run VMs? CPU, KVM (really booting a kernel), libvirt, storage."""
    report = engine(ctx).host_check(refresh=refresh)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("STATUS")
        table.add_column("CHECK")
        table.add_column("FINDING", overflow="fold")
        for f in report.findings:
            summary = f.summary + (f"\n[dim]fix: {f.fix}[/]" if f.fix and f.status != "ok" else "")
            table.add_row(f"[{_STYLE[f.status]}]{f.status}[/]", f.name, summary)
        console.print(table)
    if report.failed:
        raise typer.Exit(1)
