"""Arguments and options shared by the ``vm`` command modules."""

from __future__ import annotations

from typing import Annotated

import typer

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="VM name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
