"""The ``virtdeck`` command: global options, sub-apps, one error handler.

Commands only translate: parse options, make one engine call, print. Errors
are printed as one sentence with a non-zero exit; ``--debug`` adds the
traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Annotated

import typer

from virtdeck import __version__
from virtdeck.defaults import URI_ENV
from virtdeck.errors import VirtdeckError

from . import (
    apply_cmds,
    host_cmds,
    operation_cmds,
    vm_cmds,
    vm_console_cmds,
    vm_edit_cmds,
    vm_history_cmds,
    vm_lifecycle_cmds,
    vm_live_cmds,
    vm_snapshot_cmds,
)
from .context import AppState, err_console

app = typer.Typer(
    name="virtdeck",
    help="Run KVM/QEMU virtual machines: a virsh-like CLI on libvirt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(host_cmds.app, name="host")
app.add_typer(operation_cmds.app, name="operation")
# 'op' is a short form, kept out of the help.
app.add_typer(operation_cmds.app, name="op", hidden=True)
# 'vm' is one command group assembled from one module per area.
_VM_AREAS = (
    vm_live_cmds,
    vm_lifecycle_cmds,
    vm_snapshot_cmds,
    vm_console_cmds,
    vm_edit_cmds,
    vm_history_cmds,
)
for _area in _VM_AREAS:
    vm_cmds.app.registered_commands.extend(_area.app.registered_commands)
    vm_cmds.app.registered_groups.extend(_area.app.registered_groups)
app.add_typer(vm_cmds.app, name="vm")
# Top-level commands such as 'virtdeck apply -f vm.yaml'.
app.registered_commands.extend(apply_cmds.app.registered_commands)

_debug = False


def _version(value: bool) -> None:
    if value:
        print(f"virtdeck {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    connect: Annotated[
        str | None,
        typer.Option(
            "--connect",
            "-c",
            envvar=URI_ENV,
            metavar="URI",
            help="libvirt URI, as in virsh (default qemu:///system).",
        ),
    ] = None,
    domain_type: Annotated[
        str | None,
        typer.Option(
            "--domain-type",
            envvar="VIRTDECK_DOMAIN_TYPE",
            metavar="auto|kvm|qemu",
            help="Domain type for new VMs; auto uses the host probe.",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and libvirt calls.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    global _debug
    _debug = debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    ctx.obj = AppState(uri=connect, domain_type=domain_type)
    ctx.call_on_close(ctx.obj.close)


def run() -> None:
    """Console-script entry point."""
    try:
        # Standalone mode: Typer reports usage errors itself and exits.
        app()
    except VirtdeckError as exc:
        if _debug:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
