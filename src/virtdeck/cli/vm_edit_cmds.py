"""``vm edit``: change a definition in an editor, as ``virsh edit`` does."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from virtdeck.errors import Conflict, InvalidInput, VirtdeckError

from .context import engine
from .errors import cli_message
from .options import JsonOpt, NameArg
from .render import console, print_diff, print_error, print_json

app = typer.Typer()


def _run_editor(path: Path) -> None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        result = subprocess.run([*shlex.split(editor), str(path)], check=False)
    except FileNotFoundError as exc:
        raise InvalidInput(
            f"the editor {editor!r} was not found; set EDITOR (or VISUAL) to one you have"
        ) from exc
    if result.returncode != 0:
        raise InvalidInput(
            f"the editor {editor!r} exited with status {result.returncode}; nothing was changed"
        )


def _ask_again() -> bool:
    if not sys.stdin.isatty():
        return False
    return typer.confirm("Edit again?", default=True)


@app.command("edit")
def edit(
    ctx: typer.Context,
    name: NameArg,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="Take the new definition from FILE instead of an editor.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Edit a VM's definition in $EDITOR: validated, diffed, the old one kept in history."""
    eng = engine(ctx)
    session = eng.edit_begin(name)
    if from_file is not None:
        try:
            new_xml = from_file.read_text()
        except OSError as exc:
            raise InvalidInput(f"cannot read {from_file}: {exc.strerror}") from exc
        result = eng.edit_apply(session, new_xml)
    else:
        with tempfile.TemporaryDirectory(prefix="virtdeck-edit-") as tmp:
            path = Path(tmp) / f"{name}.xml"
            path.write_text(session.xml)
            while True:
                _run_editor(path)
                try:
                    result = eng.edit_apply(session, path.read_text())
                    break
                except Conflict:
                    raise
                except VirtdeckError as exc:
                    # Keep what was typed: reopen the same file after a mistake.
                    print_error(cli_message(exc), exc.code, exc.exit_code, as_json=as_json)
                    if not _ask_again():
                        raise typer.Exit(exc.exit_code) from exc
    if as_json:
        print_json(result)
        return
    if not result.changed:
        console.print(f"VM {name}: no changes")
        return
    print_diff(result.diff)
    console.print(f"VM {name}: definition updated (the previous one is in 'vm history {name}')")
