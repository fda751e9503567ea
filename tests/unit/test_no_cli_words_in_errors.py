"""The engine and the host word their errors for every front end, not for the CLI.

An error names a request field with ``opt()`` and a next step with a
``Hint``; the CLI turns those into ``--max-memory`` and ``'virtdeck vm stop
web1'``, the API into its own names. A message that spells a virtdeck
command line or a ``--option`` itself reads wrong in an API problem body, so
this reads the source (with ``ast``, so comments and docstrings are not
taken for messages) and names every such text.

What counts as a message: every string in a ``raise`` statement or in a call
that makes a ``VirtdeckError`` (a helper may build one and return it), and
every string handed to a call that is nothing but an option name
(``check_place(path, "--iso")``: it becomes part of a message below). Commands
of other tools (``'virsh net-list --all'``, ``'qemu-img check -r all'``) are
not virtdeck's CLI and stay as they are.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtdeck
from virtdeck.errors import ERRORS_BY_CODE

SOURCE = Path(virtdeck.__file__).parent
CHECKED_PACKAGES = ("engine", "host")

# A virtdeck command line quoted in a message, or a long option anywhere in one.
CLI_COMMAND = re.compile(r"'virtdeck ")
CLI_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# The option name alone, as the "what" a helper puts in front of a value.
BARE_OPTION = re.compile(r"--[a-z][a-z0-9-]*")
# A quoted command of another tool: its options are that tool's, not ours.
OTHER_TOOL_COMMAND = re.compile(
    r"'(?:virsh|qemu-img|qemu-system-\w+|systemctl|virtlogd|libvirtd|virt-\w+|ssh-keygen)\b[^']*'"
)
ERROR_CLASSES = frozenset(cls.__name__ for cls in ERRORS_BY_CODE.values())
# Where a formatted value sits in an f-string's text, so that the text reads whole.
PLACEHOLDER = "{…}"


def cli_words(text: str) -> list[str]:
    """The CLI words in a message's text: quoted virtdeck commands and --options."""
    own = OTHER_TOOL_COMMAND.sub("", text)
    found = ["'virtdeck ..." for _ in CLI_COMMAND.finditer(own)]
    found += CLI_OPTION.findall(own)
    return found


def string_text(node: ast.expr) -> str | None:
    """A string literal's text, or an f-string's with a placeholder for each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
            else PLACEHOLDER
            for part in node.values
        )
    return None


def strings_in(node: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of each string literal under ``node``, an f-string counted once."""
    inside_fstrings = {
        id(part) for sub in ast.walk(node) if isinstance(sub, ast.JoinedStr) for part in sub.values
    }
    for sub in ast.walk(node):
        if id(sub) in inside_fstrings or not isinstance(sub, ast.expr):
            continue
        text = string_text(sub)
        if text is not None:
            yield sub.lineno, text


def makes_an_error(call: ast.Call) -> bool:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name in ERROR_CLASSES


def message_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string that ends up in an error message."""
    seen: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        found: list[tuple[int, str]] = []
        if isinstance(node, ast.Raise) and node.exc is not None:
            found = list(strings_in(node.exc))
        elif isinstance(node, ast.Call) and makes_an_error(node):
            found = list(strings_in(node))
        elif isinstance(node, ast.Call):
            arguments = [*node.args, *(k.value for k in node.keywords)]
            found = [
                (arg.lineno, text)
                for arg in arguments
                if (text := string_text(arg)) is not None and BARE_OPTION.fullmatch(text.strip())
            ]
        for item in found:
            if item not in seen:
                seen.add(item)
                yield item


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(SOURCE.parent)
    return [
        f"{where}:{line}: {', '.join(words)} in {text!r}"
        for line, text in message_strings(tree)
        if (words := cli_words(text))
    ]


def checked_files() -> list[Path]:
    return sorted(p for package in CHECKED_PACKAGES for p in (SOURCE / package).rglob("*.py"))


def test_engine_and_host_errors_name_no_cli_words() -> None:
    found = [offence for path in checked_files() for offence in offences(path)]
    assert not found, (
        "error text in the engine or the host names the CLI; name a request field with "
        "opt('field') and a next step with Hint(...) instead:\n" + "\n".join(found)
    )


# -- the check itself: it finds what it is meant to, and only that -------------


def offences_in(source: str) -> list[str]:
    """The message texts with CLI words in a piece of source."""
    return [text for _line, text in message_strings(ast.parse(source)) if cli_words(text)]


@pytest.mark.parametrize(
    "source",
    [
        "raise Conflict(f'VM {name} runs; stop it first (\\'virtdeck vm stop {name}\\')')",
        "raise InvalidInput('give --size or --path')",
        "def exists(name):\n    return Conflict(f'VM {name} exists; give another --name')",
        "ctx.check_place(Path(given), '--iso')",
        "images.inspect(path, what='--path')",
        "raise InvalidInput(f'{what} is bad; ' 'add --force')",
    ],
)
def test_cli_words_in_a_message_are_found(source: str) -> None:
    assert offences_in(source)


@pytest.mark.parametrize(
    "source",
    [
        "raise Conflict(f'VM {name} runs; stop it first', hint=Hint('vm.stop', vm=name))",
        'raise InvalidInput(f\'give {opt("size_bytes")} or {opt("path")}\')',
        "raise NotFound(f'no network {name}; \\'virsh net-list --all\\' shows them')",
        "raise InvalidInput(f'{path} is corrupt; repair it with \\'qemu-img check -r all\\'')",
        "run_qemu_img(['info', '--force-share', '--output', 'json', path], limits, action)",
        "log.info('a --flag in text that is no error')",
        "raise InvalidInput('a pre-1970 date -- or a dash -- is no option')",
    ],
)
def test_messages_without_cli_words_pass(source: str) -> None:
    assert offences_in(source) == []
