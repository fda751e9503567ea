"""An engine error as the CLI words it: for tests that assert on what a user reads.

The engine's message names fields and next steps as data (``opt()``,
``Hint``); the CLI turns them into its options and commands. A test that
checks for ``--force`` or ``'virtdeck vm stop web1'`` checks this text.
"""

from __future__ import annotations

from virtdeck.cli.errors import cli_message
from virtdeck.errors import VirtdeckError


def cli_text(exc: BaseException) -> str:
    assert isinstance(exc, VirtdeckError), f"not a VirtdeckError: {exc!r}"
    return cli_message(exc)
