"""``virtdeck host ...``: checks of the hypervisor host."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

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
        width = max(len(f.name) for f in report.findings)
        for f in report.findings:
            status = f"[{_STYLE[f.status]}]{f.status:<4}[/]"
            console.print(f"{status}  {f.name:<{width}}  {escape(f.summary)}", soft_wrap=True)
            if f.fix and f.status != "ok":
                console.print(f"      {'':<{width}}  [dim]fix: {escape(f.fix)}[/]", soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)
