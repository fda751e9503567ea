"""Every command and every option of the CLI is used by some test.

A new option that no test passes fails here, naming it. The check reads the
test sources for the option as a quoted string (``"--full-copy"``, or
``"--connect=...``), which is how the tests pass arguments to the CLI; a
name that appears nowhere is certainly never exercised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from virtdeck.cli.main import app

TESTS = Path(__file__).resolve().parents[1]


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _test_sources() -> str:
    own = Path(__file__).resolve()
    return "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.resolve() != own)


def _quoted(word: str, text: str) -> bool:
    return re.search(rf"[\"']{re.escape(word)}(=|[\"'])", text) is not None


def test_every_command_and_option_is_used_by_a_test() -> None:
    text = _test_sources()
    unused: list[str] = []
    for path, command in _commands(typer.main.get_command(app)):
        if path and not getattr(command, "commands", None) and not _quoted(path[-1], text):
            unused.append(f"command '{' '.join(path)}'")
        for param in command.params:
            if getattr(param, "param_type_name", "") != "option":
                continue
            names = [*param.opts, *param.secondary_opts]
            if "--help" in names:
                continue
            if not any(_quoted(name, text) for name in names):
                unused.append(f"option {'/'.join(names)} of '{' '.join(path) or 'virtdeck'}'")
    assert not unused, "never used by a test: " + "; ".join(unused)
