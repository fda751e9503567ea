"""Arguments and options shared by the ``vm`` command modules."""

from __future__ import annotations

from typing import Annotated

import typer

from virtdeck.errors import InvalidInput
from virtdeck.model import SizeError, parse_size

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="VM name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def size_option(value: str, label: str) -> int:
    """Bytes from a size a person typed; a bare number means MiB, as in virsh."""
    try:
        return parse_size(value, default_unit="M")
    except SizeError as exc:
        raise InvalidInput(f"{label}: {exc}") from exc
