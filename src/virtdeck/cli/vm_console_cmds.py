"""Commands of one area; cli/main.py merges ``app``'s commands and groups into ``vm``."""

from __future__ import annotations

import typer

app = typer.Typer()
