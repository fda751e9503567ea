"""``virtdeck host ...``: checks of the hypervisor host."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from .context import engine
from .options import JsonOpt
from .render import Row, print_json, print_table

app = typer.Typer(help="Check and inspect the hypervisor host.", no_args_is_help=True)

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Probe KVM again, ignoring the cached result.")
    ] = False,
) -> None:
    """Can this host run VMs? CPU, KVM (really booting a kernel), libvirt, storage."""
    report = engine(ctx).host_check(refresh=refresh)
    if as_json:
        print_json(report)
    else:
        # A checklist, read line by line: no header; a fix goes under the summary.
        rows = [
            Row(
                (Text(f.status, style=_STYLE[f.status]), f.name, f.summary),
                Text(f"fix: {f.fix}", style="dim") if f.fix and f.status != "ok" else "",
            )
            for f in report.findings
        ]
        print_table(rows, notes_at=2)
    if report.failed:
        raise typer.Exit(1)
