"""``virtdeck host ...``: checks of the hypervisor host."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from .context import console, engine
from .options import JsonOpt

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
        print(report.model_dump_json(indent=2))
    else:
        width = max(len(f.name) for f in report.findings)
        for f in report.findings:
            line = Text.assemble(
                (f"{f.status:<4}", _STYLE[f.status]), f"  {f.name:<{width}}  {f.summary}"
            )
            console.print(line, soft_wrap=True)
            if f.fix and f.status != "ok":
                fix = Text.assemble(f"      {'':<{width}}  ", (f"fix: {f.fix}", "dim"))
                console.print(fix, soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)
