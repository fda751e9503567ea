"""How the CLI prints: results as JSON, tables, label/value fields, diffs, errors.

Nothing printed is ever read as Rich markup: both consoles have markup (and
highlighting and emoji codes) off, and a styled piece is a ``rich.text.Text``
with its style given explicitly. A VM named ``rp-[red]x`` prints as itself, and
a libvirt message with ``[/x]`` in it cannot break the error line.

Every aligned output goes through one aligner, in two shapes:

- ``print_table``: many things, one per row, the same columns for each (an
  optional bold header names them); ``vm list``, ``operation list``, ``host
  check``.
- ``print_fields``: one thing, one attribute per line, a bold label before
  each value; ``vm show``, ``operation show``. Its labels are the first column
  of a two-column table without a header, so it is the same aligner with the
  label style set, not a second one.

Neither is a Rich Table: that pads every cell to its column's width (piped
lines ended in spaces), and measuring and styling every cell made a
1,000-VM listing spend more time rendering than asking libvirt. So a row
with no styled cell is written as a plain string, and only the header and
rows with a styled cell go through the console.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

# Piped output is not wrapped at 80 columns, so scripts can grep whole lines.
console = Console(
    markup=False, highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200
)
err_console = Console(stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True)

# A cell: a str is printed as it is, a Text keeps its style (a state in colour).
Cell = str | Text
COLUMN_GAP = "  "


@dataclass(frozen=True)
class Row:
    """A table row with a note: a line of its own under the row (an error, a fix).

    The note starts under the table's ``notes_at`` column.
    """

    cells: Sequence[Cell]
    note: Cell


def print_json(result: BaseModel | Sequence[BaseModel], *, exclude_none: bool = False) -> None:
    """What a command reports, as JSON on stdout: one model, or a list of them.

    One form for every --json: ``model_dump(mode="json")`` indented by two,
    non-ASCII characters as they are (as Pydantic writes them).
    """
    if isinstance(result, BaseModel):
        data: object = result.model_dump(mode="json", exclude_none=exclude_none)
    else:
        data = [item.model_dump(mode="json", exclude_none=exclude_none) for item in result]
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _width(cell: Cell) -> int:
    # cell_len, not len: a wide character takes two columns on a terminal.
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def _padded(cell: str, width: int) -> str:
    return cell + " " * (width - cell_len(cell))


def _line(cells: Sequence[Cell], widths: Sequence[int], indent: int) -> str | Text:
    """One aligned line, no trailing spaces; a Text only when a cell is styled."""
    if all(isinstance(cell, str) for cell in cells):
        padded = (_padded(str(cell), w) for cell, w in zip(cells, widths, strict=True))
        return (" " * indent + COLUMN_GAP.join(padded)).rstrip()
    line = Text(" " * indent)
    for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        if index:
            line.append(COLUMN_GAP)
        line.append(cell)
        line.append(" " * (width - _width(cell)))
    line.rstrip()
    return line


def _emit(lines: Iterable[str | Text]) -> None:
    """Plain lines in one write each run of them; styled ones through the console."""
    plain: list[str] = []
    for line in lines:
        if isinstance(line, str):
            plain.append(line)
            continue
        if plain:
            print("\n".join(plain))
            plain.clear()
        console.print(line, soft_wrap=True)
    if plain:
        print("\n".join(plain))


def print_table(
    rows: Iterable[Sequence[Cell] | Row],
    header: Sequence[str] | None = None,
    *,
    indent: int = 0,
    notes_at: int = 1,
) -> None:
    """Rows in aligned columns two spaces apart, under a bold header if given.

    Every column is as wide as its widest cell (header included) and no
    line ends in a space. ``indent`` spaces go before every line; a ``Row``'s
    note goes on the next line, under column ``notes_at``.
    """
    table = [row if isinstance(row, Row) else Row(row, "") for row in rows]
    all_cells = [row.cells for row in table]
    if header is not None:
        all_cells.insert(0, header)
    if not all_cells:
        return
    widths = [max(_width(cells[i]) for cells in all_cells) for i in range(len(all_cells[0]))]
    note_indent = indent + sum(widths[:notes_at]) + len(COLUMN_GAP) * notes_at
    lines: list[str | Text] = []
    if header is not None:
        lines.append(Text(str(_line(header, widths, indent)), style="bold"))
    for row in table:
        lines.append(_line(row.cells, widths, indent))
        if row.note:
            lines.append(_line([row.note], [0], note_indent))
    _emit(lines)


def print_fields(fields: Sequence[tuple[str, str]], *, indent: int = 0) -> None:
    """Label/value lines (``vm show``): labels bold and aligned, no trailing spaces."""
    print_table([(Text(label, style="bold"), value) for label, value in fields], indent=indent)


def print_diff(diff: str) -> None:
    """A unified diff, coloured when the output is a terminal."""
    # Pygments comes with Syntax; load it only when there is a diff to show.
    from rich.syntax import Syntax  # noqa: PLC0415

    console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


def print_error(message: str, code: str, exit_code: int, as_json: bool) -> None:
    """One error: ``error: MESSAGE`` on stderr, or after --json one JSON object.

    The JSON form is ``{"error": {"code": ..., "message": ..., "exit_code": N}}``
    on a single line; ``code`` is the error class's stable code.
    """
    if as_json:
        body = {"error": {"code": code, "message": message, "exit_code": exit_code}}
        sys.stderr.write(json.dumps(body) + "\n")
        sys.stderr.flush()
        return
    err_console.print(Text.assemble(("error:", "bold red"), " ", message))
