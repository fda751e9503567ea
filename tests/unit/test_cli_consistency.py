"""The CLI's conventions (docs/cli.md) hold for every command.

- A short option letter has one meaning in the whole CLI, and docs/cli.md's
  table of short options is the CLI's.
- Every command that reports a result takes --json and prints the engine's
  result model; the ones that do not are listed here, each with the reason.
- Aligned output comes from cli/render.py only: its tables and field lists
  have no trailing spaces, count wide characters as two columns, print
  markup as text and make the header bold on a terminal.

The --json cases run the CLI in this process through tests/cli_runner.py
(so tests/unit/test_cli_coverage.py sees each option run), on a VM of
their own on libvirt's test driver; an anchor connection keeps the driver's
state from one command to the next.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import libvirt
import pytest
import typer.main
from rich.console import Console
from rich.text import Text
from tests.cli_runner import invoke_virtdeck
from tests.unit.test_cli_testdriver import virtdeck
from tests.unit.test_snapshots_engine import domain_xml

from virtdeck.cli import account_cmds, render, server_cmds, vm_cmds, vm_console_cmds
from virtdeck.cli.main import app

TEST_URI = "test:///default"
ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = ROOT / "src" / "virtdeck" / "cli"
DOCS = ROOT / "docs" / "cli.md"
NO_LONG_NAME = "(no long name)"

# Commands with no --json, and why: each prints something that is already a
# document of its own, or is a terminal session with no result.
WITHOUT_JSON: dict[Callable[..., Any], str] = {
    vm_console_cmds.serial_console: "a terminal session; it reports nothing",
    vm_cmds.xml: "prints the libvirt XML itself",
    vm_cmds.log: "prints the guest's serial output as it is, line by line",
    server_cmds.serve: "runs the server in the foreground; its log is what it prints",
    server_cmds.login: "stores a token for later commands; it reports no result",
    server_cmds.logout: "forgets the stored login; it reports no result",
    account_cmds.user_remove: "removes a user with its tokens; it reports no result",
}


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def _options(command: Any) -> Iterator[Any]:
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            yield param


def _spellings(option: Any) -> Iterator[tuple[list[str], list[str]]]:
    """(short names, long names) of an option, and of its --no-x side if it has one."""
    for names in (option.opts, option.secondary_opts):
        if names:
            yield (
                [n for n in names if not n.startswith("--")],
                [n for n in names if n.startswith("--")],
            )


def short_option_meanings() -> tuple[dict[str, set[str]], dict[str, set[str | None]]]:
    """Every short option's long names, and every long option's short letters (None: none).

    The help option is the root's context setting, which every command inherits.
    """
    root = typer.main.get_command(app)
    by_short: dict[str, set[str]] = defaultdict(set)
    by_long: dict[str, set[str | None]] = defaultdict(set)
    help_names = root.context_settings["help_option_names"]
    for short in (n for n in help_names if not n.startswith("--")):
        by_short[short].add("--help")
    by_long["--help"].update(n for n in help_names if not n.startswith("--"))
    for _path, command in _walk(root):
        for option in _options(command):
            for shorts, longs in _spellings(option):
                for short in shorts:
                    by_short[short].update(longs or [NO_LONG_NAME])
                for long in longs:
                    by_long[long].update(shorts or [None])
    return by_short, by_long


def test_a_short_option_means_one_thing_everywhere() -> None:
    by_short, by_long = short_option_meanings()
    assert by_short, "the walk found no short options at all"
    ambiguous = {s: sorted(longs) for s, longs in by_short.items() if len(longs) > 1}
    assert not ambiguous, f"short options with several meanings: {ambiguous}"
    unnamed = sorted(s for s, longs in by_short.items() if NO_LONG_NAME in longs)
    assert not unnamed, f"short options without a long name: {unnamed}"
    # And the other way round: where an option has a letter, it has it everywhere.
    uneven = {
        long: sorted(str(s) for s in shorts) for long, shorts in by_long.items() if len(shorts) > 1
    }
    assert not uneven, f"long options with a short letter in some commands only: {uneven}"


def test_docs_table_of_short_options_is_the_clis() -> None:
    documented = dict(re.findall(r"^\| `(-[A-Za-z])` \| `(--[a-z-]+)` \|", DOCS.read_text(), re.M))
    by_short, _ = short_option_meanings()
    actual = {short: next(iter(longs)) for short, longs in by_short.items()}
    assert documented == actual, "docs/cli.md's table of short options differs from the CLI"


def test_f_is_file_and_force_has_no_short_letter() -> None:
    """The choice made in docs/cli.md: ``apply -f FILE`` as in kubectl and virt-clone."""
    by_short, by_long = short_option_meanings()
    assert by_short["-f"] == {"--file"} and by_short["-F"] == {"--follow"}
    assert by_long["--force"] == {None}


def test_every_command_that_reports_a_result_takes_json() -> None:
    missing = []
    for path, command in _walk(typer.main.get_command(app)):
        if getattr(command, "commands", None) or not path:
            continue
        if command.callback in WITHOUT_JSON or _unwrapped(command) in WITHOUT_JSON:
            continue
        if not any("--json" in option.opts for option in _options(command)):
            missing.append(" ".join(path))
    assert not missing, f"commands without --json: {missing}"


def _unwrapped(command: Any) -> Any:
    # Typer wraps each callback; the original is kept as __wrapped__.
    return getattr(command.callback, "__wrapped__", command.callback)


def test_commands_without_json_are_real_commands() -> None:
    callbacks = {_unwrapped(c) for _p, c in _walk(typer.main.get_command(app))}
    assert set(WITHOUT_JSON) <= callbacks


# -- --json prints the engine's result ------------------------------------------

Run = Callable[..., Any]


@pytest.fixture
def own_vm(tmp_path: Path) -> Iterator[tuple[Run, str]]:
    """A shut-off VM of this test's own, and a runner.

    It has a qcow2 disk (internal snapshots work) and its serial log in
    ``tmp_path/logs``, the serial log directory of the runs.
    """
    name = f"cons-{uuid.uuid4().hex[:6]}"
    logs = tmp_path / "logs"
    logs.mkdir()
    anchor = libvirt.open(TEST_URI)
    anchor.defineXML(domain_xml(name).replace("/var/log/libvirt/qemu", str(logs)))
    env = {"VIRTDECK_DATA_DIR": str(tmp_path / "data"), "VIRTDECK_SERIAL_LOG_DIR": str(logs)}

    def run(*args: str) -> Any:
        return invoke_virtdeck("-c", TEST_URI, *args, env=env)

    yield run, name
    for dom in anchor.listAllDomains():
        if dom.name().startswith(name):
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    anchor.close()


def json_of(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_lifecycle_commands_print_the_vm_as_json(own_vm: tuple[Run, str]) -> None:
    run, name = own_vm
    started = json_of(run("vm", "start", name, "--json"))
    assert (started["name"], started["state"]) == (name, "running")
    assert {"vcpus", "memory_kib", "autostart", "persistent"} <= set(started)
    assert json_of(run("vm", "pause", name, "--json"))["state"] == "paused"
    assert json_of(run("vm", "resume", name, "--json"))["state"] == "running"
    assert json_of(run("vm", "reboot", name, "--json"))["name"] == name
    assert json_of(run("vm", "reset", name, "--json"))["state"] == "running"
    assert json_of(run("vm", "autostart", name, "on", "--json"))["autostart"] is True
    stopped = json_of(run("vm", "stop", name, "--json"))
    assert stopped == {"name": name, "how": "shutdown"}
    run("vm", "start", name)
    assert json_of(run("vm", "destroy", name, "--json")) == {"name": name, "how": "destroyed"}
    renamed = json_of(run("vm", "rename", name, f"{name}-b", "--json"))
    assert (renamed["name"], renamed["state"]) == (f"{name}-b", "shut off")
    assert renamed["disks"][0]["target"] == "vda"  # the whole VM, as 'vm show --json'


def test_snapshot_revert_info_and_delete_print_json(own_vm: tuple[Run, str]) -> None:
    run, name = own_vm
    run("vm", "start", name)
    assert run("vm", "snapshot", "create", name, "s1").exit_code == 0
    run("vm", "stop", name, "--force")
    reverted = json_of(run("vm", "snapshot", "revert", name, "s1", "--json"))
    assert reverted == {"vm": name, "snapshot": "s1", "state": "running"}
    info = json_of(run("vm", "snapshot-info", name, "s1", "--json"))
    assert (info["name"], info["kind"]) == ("s1", "memory")
    assert json_of(run("vm", "snapshot", "info", name, "s1")) == info  # JSON without it too
    deleted = json_of(run("vm", "snapshot", "delete", name, "s1", "--json"))
    assert deleted == {"vm": name, "snapshot": "s1", "removed_files": []}


def test_edit_restore_and_delete_print_json(own_vm: tuple[Run, str], tmp_path: Path) -> None:
    run, name = own_vm
    xml = run("vm", "xml", name, "--inactive").stdout
    new = tmp_path / "new.xml"
    new.write_text(xml.replace("<memory unit='KiB'>131072</memory>", "<memory>262144</memory>"))
    edited = json_of(run("vm", "edit", name, "--file", str(new), "--json"))
    assert (edited["name"], edited["changed"]) == (name, True)
    assert "+  <memory unit='KiB'>262144</memory>" in edited["diff"]
    unchanged = json_of(run("vm", "edit", name, "-f", str(new), "--json"))
    assert (unchanged["changed"], unchanged["diff"]) == (False, "")

    restored = json_of(run("vm", "restore", name, "--json"))
    assert restored["name"] == name and restored["was_deleted"] is False
    assert restored["version"] >= 1 and len(restored["uuid"]) == 36
    assert restored["running"] is False and isinstance(restored["disks_missing"], list)

    deleted = json_of(run("vm", "delete", name, "--json"))
    assert deleted["name"] == name and deleted["removed_disks"] == []
    # Disks virtdeck did not create are never removed.
    assert f"/var/lib/libvirt/images/{name}-vda.qcow2" in deleted["kept_disks"]


def test_after_json_the_error_of_a_new_json_command_is_json(tmp_path: Path) -> None:
    # A process of its own: the error handler is the console script's (cli/main.py run()).
    result = virtdeck("-c", TEST_URI, "vm", "delete", "cons-nosuch", "--json", tmp=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    body = json.loads(result.stderr)
    assert body["error"]["code"] == "not_found" and "cons-nosuch" in body["error"]["message"]


def test_force_has_no_short_letter(tmp_path: Path) -> None:
    refused = virtdeck("-c", TEST_URI, "vm", "delete", "test", "-f", tmp=tmp_path)
    assert refused.returncode == 64 and "No such option: -f" in refused.stderr


def test_follow_is_capital_f(own_vm: tuple[Run, str], tmp_path: Path) -> None:
    run, name = own_vm
    (tmp_path / "logs" / f"{name}-serial0.log").write_text("booting\nlogin: \nlater\n")
    followed = run("vm", "log", name, "-F", "--until", "login:", "--timeout", "5")
    assert followed.exit_code == 0, followed.output
    assert followed.stdout == "booting\nlogin: \n"


# -- one renderer -----------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """render's console as on a terminal (styles written), still writing to sys.stdout."""
    console = Console(force_terminal=True, markup=False, highlight=False, emoji=False, width=80)
    monkeypatch.setattr(render, "console", console)


def test_table_aligns_wide_characters_and_keeps_markup_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render.print_table([("rp-[red]x", "running"), ("日本", "shut off")], header=("NAME", "STATE"))
    assert capsys.readouterr().out.splitlines() == [
        "NAME       STATE",
        "rp-[red]x  running",
        "日本       shut off",  # two wide characters are four columns
    ]


def test_table_header_is_bold_on_a_terminal_and_rows_are_plain(
    terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    render.print_table([("a", "b")], header=("ONE", "TWO"))
    header, row = capsys.readouterr().out.splitlines()
    assert header.startswith("\x1b[1m") and "ONE  TWO" in header
    assert row == "a    b"


def test_table_notes_and_indent_and_no_trailing_spaces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows: list[Sequence[render.Cell] | render.Row] = [
        render.Row(("ok", "cpu", "fine"), ""),
        render.Row((Text("fail", style="red"), "kvm-access", "bad"), Text("fix: chgrp", "dim")),
        ("warn", "x", ""),
    ]
    render.print_table(rows, indent=2, notes_at=2)
    assert capsys.readouterr().out.splitlines() == [
        "  ok    cpu         fine",
        "  fail  kvm-access  bad",
        "                    fix: chgrp",
        "  warn  x",
    ]


def test_fields_align_labels(capsys: pytest.CaptureFixture[str]) -> None:
    render.print_fields([("Name", "rp-[bold]x"), ("Serial log", "-"), ("Empty", "")])
    assert capsys.readouterr().out.splitlines() == [
        "Name        rp-[bold]x",
        "Serial log  -",
        "Empty",
    ]


def test_json_of_a_model_and_of_a_list_has_one_form(capsys: pytest.CaptureFixture[str]) -> None:
    from virtdeck.engine.schemas import StopResult  # noqa: PLC0415

    result = StopResult(name="vé", how="shutdown")
    render.print_json(result)
    render.print_json([result])
    one = '{\n  "name": "vé",\n  "how": "shutdown"\n}'
    assert capsys.readouterr().out == f"{one}\n[\n  {one.replace(chr(10), chr(10) + '  ')}\n]\n"


# A format spec that gives a width: "<9", ">12", "5", "08" (not ".1f").
_WIDTH_SPEC = re.compile(r"(.?[<>^=])?[+\- ]?#?0?[1-9]")


def _aligners(tree: ast.AST) -> Iterator[int]:
    """Lines that pad text to a width by hand: str.ljust/rjust/center, f"{x:<9}", f"{x:<{w}}"."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("ljust", "rjust", "center"):
            yield node.lineno
        if isinstance(node, ast.FormattedValue) and isinstance(node.format_spec, ast.JoinedStr):
            parts = node.format_spec.values
            spec = "".join(str(v.value) for v in parts if isinstance(v, ast.Constant))
            computed = any(isinstance(v, ast.FormattedValue) for v in parts)
            if computed or _WIDTH_SPEC.match(spec):
                yield node.lineno


def test_the_aligner_check_finds_hand_alignment() -> None:
    """The check below must be able to fail: it finds each way of padding by hand."""
    source = 'a.ljust(3)\nf"{x:<9}"\nf"{x:<{w}}"\nf"{x:>5}"\nf"{t:.1f}"\nf"{t}"\n'
    assert list(_aligners(ast.parse(source))) == [1, 2, 3, 4]


# fast_list.py lays out 'vm list' without loading Rich, for the cold start;
# tests/unit/test_vm_list_fast.py checks its table byte for byte against
# render.print_table's, on a terminal and off one.
RENDERERS = {"render.py", "fast_list.py"}


def test_no_command_module_aligns_columns_by_hand() -> None:
    found = [
        f"{path.name}:{line}"
        for path in sorted(CLI_DIR.glob("*.py"))
        if path.name not in RENDERERS
        for line in _aligners(ast.parse(path.read_text()))
    ]
    assert not found, "hand-written alignment (use render.print_table): " + ", ".join(found)
