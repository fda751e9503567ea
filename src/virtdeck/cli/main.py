"""The ``virtdeck`` command: global options, sub-apps, one error handler.

Commands only translate: parse options, make one engine call, print. Errors
are printed as one sentence with a non-zero exit; ``--debug`` adds the
traceback. After ``--json`` an error is one JSON object on stderr instead:
``{"error": {"code": "not_found", "message": "...", "exit_code": 2}}``.

Exit codes: 0 success; each VirtdeckError class has its own (NotFound 2,
Conflict 3, InvalidInput 4, ... Timeout 8, see errors.py); a command line
that cannot be understood (unknown option, missing argument, a number out of
range) is 64, EX_USAGE of sysexits.h, so that it is never mistaken for
NotFound; Ctrl-C is 130.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import IO, Annotated, Any, Protocol, cast

import typer
from pydantic import ValidationError

from virtdeck import __version__
from virtdeck.defaults import URI_ENV
from virtdeck.engine.validation import from_validation_error
from virtdeck.errors import VirtdeckError

from . import (
    account_cmds,
    apply_cmds,
    host_cmds,
    operation_cmds,
    server_cmds,
    vm_cmds,
    vm_console_cmds,
    vm_edit_cmds,
    vm_history_cmds,
    vm_lifecycle_cmds,
    vm_live_cmds,
    vm_snapshot_cmds,
)
from .context import AppState
from .errors import cli_message
from .remote import SERVER_ENV, TOKEN_ENV
from .render import err_console, print_error

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
# 'virtdeck serve', 'login', 'logout'.
app.registered_commands.extend(server_cmds.app.registered_commands)
# 'virtdeck user ...', 'token ...', 'audit list'.
app.add_typer(account_cmds.user_app, name="user")
app.add_typer(account_cmds.token_app, name="token")
app.add_typer(account_cmds.audit_app, name="audit")

_debug = False
# The state of the command being run: run() reads its --json flag.
_state: AppState | None = None

EX_USAGE = 64  # sysexits.h: the command was used incorrectly


class _ClickError(Protocol):
    exit_code: int

    def format_message(self) -> str: ...

    def show(self, file: IO[Any] | None = None) -> None: ...


def _click_class(name: str) -> type[Exception]:
    # Click's exceptions, wherever this Typer keeps Click (vendored inside
    # Typer in recent releases, the click package in older ones): the bases
    # of typer.BadParameter.
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_ClickException = _click_class("ClickException")
_UsageError = _click_class("UsageError")


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
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar=SERVER_ENV,
            metavar="URL",
            help="Go through this virtdeck server (default: the stored login, if any).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV,
            metavar="TOKEN",
            help="The API token for --server (default: the stored login's).",
            show_envvar=True,
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
    global _debug, _state
    _debug = debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    ctx.obj = _state = AppState(uri=connect, domain_type=domain_type, server=server, token=token)
    ctx.call_on_close(ctx.obj.close)


def _json_errors() -> bool:
    return _state is not None and _state.json_errors


def _usage_error(exc: _ClickError) -> int:
    """Click's report of a command line it cannot use, as Click prints it; exit 64."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        # A group without its command: Typer has printed the help already
        # (when Rich formats it); plain Click keeps it in the message.
        text = exc.format_message()
        if text.strip():
            print(text)
        return EX_USAGE
    if _json_errors():
        print_error(exc.format_message(), "usage", EX_USAGE, as_json=True)
    else:
        exc.show()
    return EX_USAGE


def run() -> None:
    """Console-script entry point."""
    try:
        # Not standalone: usage errors come here, to exit 64 rather than
        # Click's 2 (which is NotFound's); --help and typer.Exit return a code.
        code = app(standalone_mode=False)
    except (VirtdeckError, ValidationError) as raised:
        if _debug:
            traceback.print_exc()
        # A request the CLI built that its schema refuses: the same sentence
        # the engine's boundary makes of one.
        exc = raised if isinstance(raised, VirtdeckError) else from_validation_error(raised)
        print_error(cli_message(exc), exc.code, exc.exit_code, as_json=_json_errors())
        sys.exit(exc.exit_code)
    except _UsageError as exc:
        sys.exit(_usage_error(cast(_ClickError, exc)))
    except _ClickException as exc:
        click_error = cast(_ClickError, exc)
        if _json_errors():
            message = click_error.format_message()
            print_error(message, "error", click_error.exit_code, as_json=True)
        else:
            click_error.show()
        sys.exit(click_error.exit_code)
    except typer.Abort:
        # A prompt got end of input (Click's "Aborted!").
        err_console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
