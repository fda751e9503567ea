"""The one way tests run the ``virtdeck`` command, and the record of what they ran.

Every command line a test gives the CLI goes through this module: in this
process through Typer's runner (``invoke_virtdeck``), in a fresh process as
a user runs it (``run_virtdeck``), or as the argv of a process the test
starts itself (``virtdeck_command``, for terminals and background runs).
Each records its argv, with the test that ran it, as one JSON line in the
file named by ``VIRTDECK_TEST_ARGV_LOG`` (tests/conftest.py points it into
the session's temporary directory). tests/unit/test_cli_coverage.py reads
that record to find commands and options that no test runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from typer.testing import CliRunner, Result

from virtdeck.cli.main import app

ARGV_LOG_ENV = "VIRTDECK_TEST_ARGV_LOG"


@dataclass(frozen=True)
class RecordedRun:
    """One command line a test gave the CLI."""

    test: str  # the pytest node id ("tests/unit/test_x.py::test_y"), "" outside a test
    argv: tuple[str, ...]


def _current_test() -> str:
    # Set by pytest for the test being set up, run or torn down: "path::name (call)".
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.rsplit(" (", 1)[0]


def record_argv(argv: Sequence[str]) -> None:
    """Append ``argv`` to the session's record; without a record file, nothing."""
    log = os.environ.get(ARGV_LOG_ENV)
    if not log:
        return
    line = json.dumps({"test": _current_test(), "argv": list(argv)})
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_record(path: Path) -> list[RecordedRun]:
    """Every run recorded in ``path`` (none when no test ran the CLI)."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        runs.append(RecordedRun(test=entry["test"], argv=tuple(entry["argv"])))
    return runs


def virtdeck_command(*args: str) -> list[str]:
    """The command line that runs ``virtdeck ARGS`` in a new process; recorded."""
    record_argv(args)
    return [sys.executable, "-m", "virtdeck", *args]


def run_virtdeck(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    stdin: IO[Any] | int | None = None,
) -> subprocess.CompletedProcess[str]:
    """``virtdeck ARGS`` in a fresh process, as a user runs it; never raises on exit codes.

    ``env`` is the whole environment of the process (``os.environ`` when None).
    """
    return subprocess.run(
        virtdeck_command(*args),
        capture_output=True,
        text=True,
        env=dict(os.environ if env is None else env),
        timeout=timeout,
        stdin=stdin,
        check=False,
    )


def invoke_virtdeck(
    *args: str, env: Mapping[str, str] | None = None, input: str | None = None
) -> Result:
    """``virtdeck ARGS`` in this process through Typer's runner.

    Faster than a process, and it shares this process's libvirt test driver
    state, so a VM a test defines is there for the command. ``env`` is added
    to this process's environment for the run; ``input`` is its standard input.
    """
    record_argv(args)
    return CliRunner().invoke(app, list(args), env=dict(env or {}), input=input)


class _Entry:
    """The console script's ``run()`` as Click's test runner calls a command.

    ``run()`` is where errors become one sentence on stderr and an exit
    code; a Typer app invoked directly leaves them as exceptions.
    """

    name = "virtdeck"

    def main(self, args: Sequence[str], prog_name: str, **_extra: object) -> None:
        from virtdeck.cli.main import run  # noqa: PLC0415

        saved = sys.argv
        sys.argv = [prog_name, *args]
        try:
            run()
        finally:
            sys.argv = saved


def invoke_cli(
    *args: str, env: Mapping[str, str] | None = None, input: str | None = None
) -> Result:
    """``virtdeck ARGS`` in this process as the console script runs it: errors as users see."""
    from click.testing import CliRunner as ClickRunner  # noqa: PLC0415

    record_argv(args)
    return ClickRunner().invoke(_Entry(), list(args), env=dict(env or {}), input=input)  # type: ignore[arg-type]
