"""Reading a password: from a prompt on a terminal, else one line of standard input."""

from __future__ import annotations

import sys

import typer

from virtdeck.errors import InvalidInput


def read_password(confirm: bool, prompt: str = "Password") -> str:
    """The password typed (twice when ``confirm``), or the first line piped in."""
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput("no password came on standard input; pipe it in, one line")
    return line.rstrip("\r\n")
