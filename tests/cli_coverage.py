"""Which commands and options of the CLI the recorded test runs really used.

Each recorded argv is parsed by Click's own parser, level by level down the
command tree, exactly as the CLI parses it: so ``-a`` counts for ``vm list
--all`` only where it is an option of ``vm list`` (not as the value of
``--hostname``), ``--limit=5`` and bundled short flags count, and a word
after ``--`` is an argument. A command line the parser refuses (an unknown
option, a missing value) counts for nothing.

Options are counted per implementation: ``vm snapshot-create-as --disk-only``
exercises the same option as ``vm snapshot create --disk-only``. Commands are
counted per path, hidden virsh-style aliases included, so that each alias is
run at least once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import typer.main

from virtdeck.cli.main import app

Path = tuple[str, ...]
# Click's UsageError, wherever this Typer keeps Click: a base of typer.BadParameter.
_HELP = "help"  # the parameter name of -h/--help
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


@dataclass(frozen=True)
class OptionKey:
    """One option of one command implementation."""

    implementation: str  # module.qualname of the callback, or the group's path
    param: str  # the parameter's name


@dataclass
class Usage:
    """The commands and options that a set of command lines used."""

    commands: set[Path] = field(default_factory=set)
    options: set[OptionKey] = field(default_factory=set)

    def add(self, other: Usage) -> None:
        self.commands |= other.commands
        self.options |= other.options


@dataclass(frozen=True)
class CliOption:
    key: OptionKey
    label: str  # "option --all/-a of 'vm list'"


@dataclass(frozen=True)
class CliSurface:
    """Every leaf command path and every option the CLI has."""

    commands: tuple[Path, ...]
    options: tuple[CliOption, ...]


def _root() -> Any:
    return typer.main.get_command(app)


def _walk(command: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def _implementation(command: Any, path: Path) -> str:
    callback = command.callback
    if callback is None:
        return " ".join(path)
    return f"{callback.__module__}.{callback.__qualname__}"


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "option" and "--help" not in param.opts


def surface() -> CliSurface:
    """The CLI as it is now; an option is labelled by its first visible command path."""
    commands: list[Path] = []
    labels: dict[OptionKey, str] = {}
    visible: set[OptionKey] = set()
    for path, command in _walk(_root()):
        if not getattr(command, "commands", None):
            commands.append(path)
        for param in filter(_is_option, command.params):
            key = OptionKey(_implementation(command, path), param.name)
            names = "/".join([*param.opts, *param.secondary_opts])
            label = f"option {names} of '{' '.join(path) or 'virtdeck'}'"
            if key not in labels or (not command.hidden and key not in visible):
                labels[key] = label
            if not command.hidden:
                visible.add(key)
    options = tuple(CliOption(key, label) for key, label in labels.items())
    return CliSurface(commands=tuple(commands), options=options)


def parse_argv(argv: Iterable[str]) -> Usage | None:
    """What one command line uses, or None when Click would refuse it."""
    command = _root()
    ctx: Any = None
    name = "virtdeck"
    args = list(argv)
    path: Path = ()
    used = Usage()
    while True:
        # A bare context: parsing alone, so no callback (such as --version's) runs.
        ctx = command.context_class(command, info_name=name, parent=ctx)
        try:
            given, rest, _ = command.make_parser(ctx).parse_args(args=list(args))
        except _USAGE_ERROR:
            return None
        if _HELP in given:
            return Usage()  # help is printed and nothing runs
        for param in filter(_is_option, command.params):
            if param.name in given:
                used.options.add(OptionKey(_implementation(command, path), param.name))
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            used.commands.add(path)
            return used
        if not rest:
            return used  # eager options such as --version run without a command
        if rest[0] not in subcommands:
            return None
        name, args = rest[0], rest[1:]
        path = (*path, name)
        command = subcommands[name]


def usage_of(argvs: Iterable[Iterable[str]]) -> Usage:
    total = Usage()
    for argv in argvs:
        parsed = parse_argv(argv)
        if parsed is not None:
            total.add(parsed)
    return total


def never_used(cli: CliSurface, usage: Usage, excused: Iterable[str] = ()) -> list[str]:
    """Labels of the commands and options ``usage`` does not reach, minus ``excused`` labels."""
    skip = set(excused)
    missing = [f"command '{' '.join(p)}'" for p in cli.commands if p not in usage.commands]
    missing += [o.label for o in cli.options if o.key not in usage.options]
    return [label for label in missing if label not in skip]


# -- which part of the suite this session ran ---------------------------------

TREES = ("unit", "integration")


@dataclass
class SuiteRun:
    """What a pytest session left out of each test tree (tests/unit, tests/integration).

    A tree "ran in full" when every one of its test files was collected, none
    of its tests was deselected and none was skipped: only then are the
    command lines recorded for it all the command lines it has.
    """

    tests_dir: Any  # pathlib.Path of tests/
    deselected: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    failed: int = 0

    def tree_of(self, nodeid: str) -> str | None:
        parts = nodeid.split("::", 1)[0].split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "tests" and parts[1] in TREES else None

    def why_partial(self, tree: str, collected_files: set[str]) -> str | None:
        """None when ``tree`` ran in full, else the reason it did not."""
        if tree in self.deselected:
            return f"some tests in tests/{tree} were deselected"
        if tree in self.skipped:
            return f"some tests in tests/{tree} were skipped"
        root = self.tests_dir / tree
        on_disk = {str(p.relative_to(self.tests_dir.parent)) for p in root.rglob("test_*.py")}
        left_out = sorted(on_disk - collected_files)
        if left_out:
            more = f" and {len(left_out) - 1} more" if len(left_out) > 1 else ""
            return f"{left_out[0]}{more} did not run"
        return None
