"""Console-script entry: starts the libvirt connection early and reports a
broken installation in one sentence."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping, Sequence

from virtdeck.defaults import DEFAULT_URI, URI_ENV

# The global options of cli.main that take a value; every other option
# before the command is a flag.
_URI_OPTIONS = ("-c", "--connect")
_VALUE_OPTIONS = ("--domain-type", "--server", "--token")
_FLAGS = ("--debug",)


def early_uri(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The URI the command line will connect to, or None when it will not.

    Reads only the global options before the command, as the full parser
    will; help, --version, a missing command or an option it does not know
    give None, so such runs open no connection. A guess that turns out wrong
    costs one unused connection, never a wrong one: ``Host`` only adopts a
    connection whose URI matches its own.
    """
    if env.get("VIRTDECK_SERVER"):
        return None  # through the API: no libvirt connection here
    uri: str | None = None
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--server" or arg.startswith("--server="):
            return None  # through the API: no libvirt connection here
        if arg in _URI_OPTIONS or arg in _VALUE_OPTIONS:
            if not rest:
                return None
            value = rest.pop(0)
            uri = value if arg in _URI_OPTIONS else uri
        elif arg.startswith("--connect="):
            uri = arg.partition("=")[2]
        elif arg.startswith("-c") and not arg.startswith("--"):
            uri = arg[2:]
        elif arg in _FLAGS or arg.startswith(("--domain-type=", "--server=", "--token=")):
            continue
        elif arg.startswith("-"):
            return None
        else:
            # The command; it opens a connection unless it is asked for help.
            return (
                None
                if "-h" in rest or "--help" in rest
                else (uri or env.get(URI_ENV) or DEFAULT_URI)
            )
    return None


def main() -> None:
    # Start-up allocates a few hundred thousand objects (modules, classes,
    # the command tree) and frees almost none, so collections while it runs
    # are wasted work, and so are the ones at exit that walk them again.
    # Collect nothing until the CLI is loaded, then move what it made out of
    # the collector's sight; what commands allocate later is collected as usual.
    gc.disable()
    uri = early_uri(sys.argv[1:], os.environ)
    if uri:
        from virtdeck.host import preconnect  # noqa: PLC0415 - stdlib only; cheap

        preconnect.start(uri)
        # A local 'vm list' is answered without loading the rest of the CLI
        # (the process ends there); any other command line returns at once.
        from virtdeck.cli.fast_list import main as fast_list  # noqa: PLC0415

        fast_list(sys.argv[1:], os.environ)
    try:
        from virtdeck.cli.main import run  # noqa: PLC0415 - a missing module is caught here
    except ImportError as exc:
        missing = exc.name or str(exc)
        print(
            f"error: virtdeck cannot start: the Python module {missing!r} is missing; "
            "run 'bash setup.sh demo' (or pip install virtdeck) to install it",
            file=sys.stderr,
        )
        sys.exit(1)
    finally:
        gc.freeze()
        gc.enable()
    run()
