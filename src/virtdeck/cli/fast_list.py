"""A local ``virtdeck vm list`` without loading the rest of the CLI.

Run cold, ``vm list`` spent most of its time importing: Typer and its
command tree, Pydantic and the engine's schemas, the XML model, Rich. When
the command line is exactly a local ``vm list`` (``-c``/``--connect``, then
``vm list`` with ``--json``, ``--all`` or ``-a``), the console script
(cli/entry.py) comes here first. The listing is the engine's own
(``host/listing.list_states``, what ``list_vms`` returns), printed as the
``vm list`` command prints it: one row builder (``vm_row``) serves both.

Anything else returns None before a byte is printed, and the full CLI runs
as it always does: help, ``--debug``, a server (``--server``,
``VIRTDECK_SERVER``, a stored login, anything in the config directory), an
environment variable this path does not know (the settings the engine
checks among them), a failed listing (the full CLI reports it as usual)
and a terminal that Rich would style beyond what this module writes itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Protocol

from virtdeck.defaults import DEFAULT_URI, URI_ENV

# The model package loads a name's module on first use (model/__init__.py),
# so this brings in units.py alone, not the XML model.
from virtdeck.model.units import format_size

HEADER = ("NAME", "STATE", "VCPUS", "MEMORY", "ADDRESSES", "AUTOSTART")
# The fields of engine.schemas.VmSummary, in its order: the --json output.
JSON_FIELDS = (
    "name",
    "state",
    "vcpus",
    "max_vcpus",
    "memory_kib",
    "max_memory_kib",
    "addresses",
    "autostart",
    "persistent",
)

# Settings this path may meet in the environment: each takes any non-empty
# string, so the engine could not refuse it for a listing. The test
# harness's own variables (VIRTDECK_TEST_*, VIRTDECK_REQUIRE_INTEGRATION)
# are never read by virtdeck. Any other VIRTDECK_* variable (a server, a
# token, a setting the engine validates, one added later) sends the command
# to the full CLI.
_HARMLESS_ENV = frozenset(
    {
        URI_ENV,
        "VIRTDECK_DATA_DIR",
        "VIRTDECK_IMAGES_DIR",
        "VIRTDECK_POOL",
        "VIRTDECK_APPLIANCE_DIR",
        "VIRTDECK_SERIAL_LOG_DIR",
        "VIRTDECK_ALLOWED_DIRS",
        "VIRTDECK_DATABASE_URL",
        "VIRTDECK_REQUIRE_INTEGRATION",
    }
)
_HARNESS_PREFIX = "VIRTDECK_TEST_"
# What makes Rich treat a stream as a terminal, or not, whatever isatty says:
# with one of these set, Rich prints the table itself.
_RICH_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS")
_LIST_OPTIONS = frozenset({"--json", "--all", "-a"})


class Listed(Protocol):
    """A VM as ``vm list`` shows it: engine.schemas.VmSummary or host's DomainState."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def vcpus(self) -> int: ...
    @property
    def max_vcpus(self) -> int: ...
    @property
    def memory_kib(self) -> int: ...
    @property
    def max_memory_kib(self) -> int: ...
    @property
    def addresses(self) -> list[str]: ...
    @property
    def autostart(self) -> bool: ...


@cache
def _mem(kib: int) -> str:
    # Cached: most VMs share a few sizes, and a row has two.
    return format_size(kib * 1024)


def vm_row(vm: Listed) -> tuple[str, str, str, str, str, str]:
    """One row of ``vm list``, under HEADER."""
    return (
        vm.name,
        vm.state,
        f"{vm.vcpus}/{vm.max_vcpus}",
        f"{_mem(vm.memory_kib)}/{_mem(vm.max_memory_kib)}",
        ", ".join(vm.addresses) or "-",
        "yes" if vm.autostart else "no",
    )


def parse(argv: Sequence[str]) -> tuple[str | None, bool] | None:
    """(the --connect URI or None, --json) for exactly a ``vm list``; else None."""
    rest = list(argv)
    uri: str | None = None
    while rest and rest[0] != "vm":
        arg = rest.pop(0)
        if arg in ("-c", "--connect") and rest:
            uri = rest.pop(0)
        elif arg.startswith("--connect="):
            uri = arg.partition("=")[2]
        elif arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
            uri = arg[2:]
        else:
            return None
    if rest[:2] != ["vm", "list"] or not set(rest[2:]) <= _LIST_OPTIONS or uri == "":
        return None
    return uri, "--json" in rest[2:]


def config_dir(env: Mapping[str, str]) -> str:
    """cli/remote.py's config directory, where a login is stored (os.path: no pathlib to load)."""
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "virtdeck")


def is_local(env: Mapping[str, str]) -> bool:
    """Nothing in the environment or the config directory that the full CLI must see."""
    unknown = any(
        key.startswith("VIRTDECK_")
        and value
        and key not in _HARMLESS_ENV
        and not key.startswith(_HARNESS_PREFIX)
        for key, value in env.items()
    )
    return not unknown and not os.path.exists(config_dir(env))


def _header_style(env: Mapping[str, str]) -> tuple[str, str] | None:
    """What Rich puts around the bold header on stdout: ("", "") when it writes
    it plain (no terminal, a dumb one), the bold codes on a terminal; None
    when the environment makes Rich decide otherwise (FORCE_COLOR ...)."""
    if any(var in env for var in _RICH_ENV):
        return None
    if not sys.stdout.isatty() or env.get("TERM", "").lower() in ("dumb", "unknown"):
        return ("", "")
    return ("\x1b[1m", "\x1b[0m")


def _plain_cells(rows: Sequence[Sequence[str]]) -> bool:
    # Printable ASCII is one column a character, as Rich measures it too.
    return all(cell.isascii() and cell.isprintable() for row in rows for cell in row)


def plain_table(
    rows: Sequence[Sequence[str]], header: Sequence[str], style: tuple[str, str] = ("", "")
) -> str:
    """render.print_table's lines for printable ASCII cells, ``style`` around the header."""
    table = [header, *rows]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()
        for cells in table
    ]
    lines[0] = style[0] + lines[0] + style[1]
    return "".join(line + "\n" for line in lines)


def _write(text: str) -> int:
    """Write ``text`` to stdout; 1 when the reader went away, as Click exits then."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Nothing more can be written; keep the flush at exit from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def run(argv: Sequence[str], env: Mapping[str, str]) -> int | None:
    """List the VMs and return the exit code, or None for the full CLI to run."""
    parsed = parse(argv)
    if parsed is None or not is_local(env):
        return None
    connect, as_json = parsed
    try:
        from virtdeck.host.connection import Host  # noqa: PLC0415 - only on this path
        from virtdeck.host.listing import list_states  # noqa: PLC0415

        host = Host(connect if connect is not None else env.get(URI_ENV) or DEFAULT_URI)
        try:
            vms = list_states(host)
        finally:
            host.close()
        text: str | None = None
        rows = []
        if as_json:
            import json  # noqa: PLC0415 - only for --json

            listing = [{key: getattr(vm, key) for key in JSON_FIELDS} for vm in vms]
            text = json.dumps(listing, indent=2, ensure_ascii=False) + "\n"
        else:
            rows = [vm_row(vm) for vm in vms]
            style = _header_style(env)
            if style is not None and _plain_cells(rows):
                text = plain_table(rows, HEADER, style)
    except KeyboardInterrupt:
        return 130  # as the full CLI: Click makes Ctrl-C in a command exit 130
    except Exception:
        # Nothing is printed yet: the full CLI lists again and reports the
        # error its own way.
        return None
    if text is not None:
        return _write(text)
    from .render import print_table  # noqa: PLC0415 - Rich only where it decides

    print_table(rows, header=HEADER)
    return 0


def main(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """The console script's first step: list and end the process, or return
    (having printed nothing) for the full CLI to run.

    The process ends with ``os._exit`` once the output is flushed: nothing
    is left to do (the connection is closed, no thread of ours is pending),
    and the interpreter's tear-down, which frees every object one at a time
    (a thousand virDomains among them, each a libvirt call), took a sixth of
    the whole run.
    """
    code = run(argv, env)
    if code is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = 1
    sys.stderr.flush()
    os._exit(code)
