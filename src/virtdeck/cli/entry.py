"""Console-script entry: reports a broken installation in one sentence."""

from __future__ import annotations

import sys


def main() -> None:
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
    run()
