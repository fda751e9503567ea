"""Output and input that broke in a hostile user's hands, each case pinned down.

1. Names and messages were read as Rich markup ('rp-[red]x' printed as 'rp-x').
2. With --json, errors were plain text.
3. A usage error and NotFound shared exit code 2.
4. Numbers had no bounds ('-n 100000000000000000000': an OverflowError).
5. Size units were explained as powers of 1024 only; huge sizes printed absurdly.
6. 'vm show' ended piped lines with spaces.
7. YAML specs: an alias bomb, duplicate keys, several documents, 'cpus: true',
   and empty snapshot names.

CLI cases run ``python -m virtdeck`` on libvirt's test driver (each process
starts with the driver's one VM, 'test'); the ones that need a VM of their
own run in this process through Typer's runner, with a connection held open
so that the VM defined with libvirt directly is there for the command.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tracemalloc
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
import typer.main
from pydantic import ValidationError
from tests.cli_runner import invoke_virtdeck, run_virtdeck
from tests.unit.test_cli_testdriver import TEST_URI, virtdeck
from tests.unit.test_snapshots_engine import domain_xml

import virtdeck.errors as errors_module
from virtdeck.cli.context import console, err_console
from virtdeck.cli.main import app
from virtdeck.engine import Engine
from virtdeck.engine.schemas import VCPUS_MAX, DiskAdd, VmCreate, VmSpec
from virtdeck.engine.spec_plan import load_spec
from virtdeck.errors import InvalidInput, VirtdeckError
from virtdeck.model import SIZE_MAX, SizeError, format_size, parse_size

CLI_DIR = Path(__file__).resolve().parents[3] / "src" / "virtdeck" / "cli"
MARKUP_NAME = "rp-[red]x"


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def json_error(result: subprocess.CompletedProcess[str], code: str, exit_code: int) -> str:
    """The one JSON error object on stderr; returns its message."""
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    body = json.loads(lines[0])
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "exit_code"}
    assert (body["error"]["code"], body["error"]["exit_code"]) == (code, exit_code)
    message: str = body["error"]["message"]
    return message


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """Click's own form: usage line, a hint, 'Error: ...'; exit 64; no traceback or box."""
    assert result.returncode == 64, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "╭" not in result.stderr, "Click's plain form, not Rich's panel"
    assert result.stderr.startswith("Usage: "), result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: "), result.stderr
    return last


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    """Run the CLI in this process; a VM named MARKUP_NAME is defined for it."""
    anchor = libvirt.open(TEST_URI)
    dom = anchor.defineXML(domain_xml(MARKUP_NAME))

    def run(*args: str) -> Any:
        return invoke_virtdeck(
            "-c", TEST_URI, *args, env={"VIRTDECK_DATA_DIR": str(tmp_path / "data")}
        )

    yield run
    if dom.isActive():
        dom.destroy()
    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    anchor.close()


# -- 1. nothing printed is markup ----------------------------------------------

_MARKUP = re.compile(r"\[/?(bold|dim|italic|underline|red|green|yellow|cyan|blue|magenta|#|/)")


def _print_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("print", "status", "update", "log")
        ):
            yield node


def _literal_text(node: ast.expr) -> str:
    """The literal parts of a str or f-string argument ('' for anything else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal_text(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) + _literal_text(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_text(node.body) + _literal_text(node.orelse)
    return ""


def test_no_print_in_the_cli_is_given_markup() -> None:
    """A string literal with Rich markup passed to a console is a bug: style with Text."""
    found = []
    for path in sorted(CLI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in _print_calls(tree):
            for arg in call.args:
                if _MARKUP.search(_literal_text(arg)):
                    found.append(f"{path.name}:{call.lineno}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "rich.markup":
                found.append(f"{path.name}:{node.lineno} imports rich.markup (escape is pointless)")
    assert not found, "markup given to a console: " + ", ".join(found)


def test_the_consoles_print_markup_as_text() -> None:
    for each in (console, err_console):
        with each.capture() as captured:
            each.print("[/x] [red]y[/] :smile:")
        assert captured.get() == "[/x] [red]y[/] :smile:\n"


def test_a_vm_named_like_markup_is_listed_and_shown_verbatim(cli: Any) -> None:
    listed = cli("vm", "list")
    assert listed.exit_code == 0, listed.output
    assert any(line.startswith(f"{MARKUP_NAME} ") for line in lines_of(listed.output)), (
        listed.output
    )
    shown = cli("vm", "show", MARKUP_NAME)
    assert shown.exit_code == 0, (shown.output, shown.exception)
    assert lines_of(shown.output)[0] == f"Name         {MARKUP_NAME}"
    assert f"/var/lib/libvirt/images/{MARKUP_NAME}-vda.qcow2 [qcow2]" in shown.output
    # and no line ends in a space (6.)
    assert not [line for line in lines_of(shown.output) if line.endswith(" ")]
    # Messages were markup too: this printed "VM rp-x is running".
    started = cli("vm", "start", MARKUP_NAME)
    assert started.output == f"VM {MARKUP_NAME} is running\n", started.output
    assert cli("vm", "destroy", MARKUP_NAME).output == f"VM {MARKUP_NAME} powered off\n"


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_not_found_with_markup_in_the_name_is_verbatim(tmp_path: Path) -> None:
    # Was "no VM named 'ab'": the tag was eaten, naming another VM.
    result = virtdeck("-c", TEST_URI, "vm", "show", "a[red]b", tmp=tmp_path)
    assert one_line(result, 2).startswith("error: no VM named 'a[red]b' on test:///default")


def test_a_closing_tag_in_a_message_is_verbatim(tmp_path: Path) -> None:
    # Was a MarkupError traceback. A VM name cannot hold '/', so 'vm show a[/x]'
    # is refused before libvirt (exit 4, InvalidInput), verbatim all the same;
    # a path can hold '/'.
    shown = virtdeck("-c", TEST_URI, "vm", "show", "a[/x]", tmp=tmp_path)
    assert shown.returncode in (2, 4), shown.stderr  # NotFound, or refused as a name
    assert "'a[/x]'" in one_line(shown, shown.returncode)
    path = "/nonexistent/a[/x]/[bold]disk.qcow2"
    result = virtdeck("-c", TEST_URI, "vm", "create", "ok", "--import-disk", path, tmp=tmp_path)
    assert path in one_line(result, 4)


# -- 2. --json errors are JSON -------------------------------------------------


def test_every_error_class_has_its_own_stable_code() -> None:
    classes = [
        c
        for c in vars(errors_module).values()
        if isinstance(c, type) and issubclass(c, VirtdeckError)
    ]
    assert all("code" in vars(c) for c in classes), "each class sets its own code"
    codes = {c.__name__: c.code for c in classes}
    assert len(set(codes.values())) == len(codes)
    expected = {
        "VirtdeckError": "error",
        "NotFound": "not_found",
        "Conflict": "conflict",
        "InvalidInput": "invalid_input",
        "Unsupported": "unsupported",
        "HostUnavailable": "host_unavailable",
        "OperationFailed": "operation_failed",
        "Timeout": "timeout",
    }
    assert {k: codes[k] for k in expected} == expected


def test_an_error_after_json_is_one_json_object(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "vm", "show", "nope", "--json", tmp=tmp_path)
    message = json_error(result, "not_found", 2)
    assert message.startswith("no VM named 'nope' on test:///default")
    shown = virtdeck("-c", TEST_URI, "vm", "create", "x", "--import-disk", "/x", "--memory",
                     "lots", "--json", tmp=tmp_path)  # fmt: skip
    assert "not a size" in json_error(shown, "invalid_input", 4)


def test_a_bad_value_after_json_is_a_json_usage_error(tmp_path: Path) -> None:
    # --json comes first in processing (it is eager), so -n's check already knows.
    result = virtdeck("-c", TEST_URI, "operation", "list", "-n", "0", "--json", tmp=tmp_path)
    assert "--limit" in json_error(result, "usage", 64)


def test_an_argument_whose_value_is_json_does_not_switch_json_on(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "vm", "show", "--", "--json", tmp=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no VM named '--json'"), result.stderr


# -- 3. usage errors exit 64 ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vm", "list", "--bogus"], "Error: No such option: --bogus"),
        (["vm", "show"], "Error: Missing argument 'NAME'."),
        (["vm", "nosuchcommand"], "Error: No such command 'nosuchcommand'."),
    ],
)
def test_a_usage_error_exits_64_as_click_prints_it(
    tmp_path: Path, args: list[str], message: str
) -> None:
    assert usage_error(virtdeck("-c", TEST_URI, *args, tmp=tmp_path)) == message


def test_help_exits_0_a_missing_command_prints_help_and_not_found_stays_2(
    tmp_path: Path,
) -> None:
    for args in (["--help"], ["vm", "--help"], ["vm", "show", "-h"]):
        result = virtdeck(*args, tmp=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage:" in result.stdout
    bare = virtdeck("vm", tmp=tmp_path)
    assert bare.returncode == 64 and "Usage: " in bare.stdout and "Commands" in bare.stdout
    assert virtdeck("-c", TEST_URI, "vm", "show", "nope", tmp=tmp_path).returncode == 2


# -- 4. every number has bounds -------------------------------------------------


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _is_number(param: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        annotation = descriptor.annotation
        kinds = typing.get_args(annotation) or (annotation,)
        return any(kind in (int, float) for kind in kinds)
    kind = getattr(getattr(param, "type", None), "name", "")  # Click's own types
    return kind in ("integer", "float", "integer range", "float range")


def _bounds(param: Any) -> tuple[object, object]:
    if hasattr(param, "min"):
        return param.min, param.max
    return getattr(param.type, "min", None), getattr(param.type, "max", None)


def test_every_number_the_cli_takes_has_both_bounds() -> None:
    unbounded = []
    numbers = 0
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            if not _is_number(param):
                continue
            numbers += 1
            low, high = _bounds(param)
            if low is None or high is None:
                unbounded.append(f"{' '.join(path)} {param.name}")
    assert numbers >= 8, "the walk found the numeric parameters"
    assert not unbounded, "no min= or max=: " + ", ".join(unbounded)


@pytest.mark.parametrize(
    "args",
    [
        ["operation", "list", "-n", "100000000000000000000"],
        ["operation", "show", "99999999999999999999999"],
        ["vm", "set-cpus", "test", "100000"],
        ["vm", "stop", "test", "--timeout", "1e400"],
        ["vm", "stop", "test", "--timeout", "nan"],
    ],
)
def test_a_number_out_of_range_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    last = usage_error(virtdeck("-c", TEST_URI, *args, tmp=tmp_path))
    assert last.startswith("Error: Invalid value for ")


def test_the_schemas_bound_numbers_that_come_from_elsewhere() -> None:
    # Too small is the engine's sentence ("--cpus must be at least 1"); too
    # large stops at the schema, before any arithmetic or libvirt call.
    for bad in ({"cpus": VCPUS_MAX + 1}, {"max_cpus": 10**30}):
        with pytest.raises(ValidationError):
            VmCreate.model_validate({"name": "x", **bad})
    for field in ("memory_bytes", "max_memory_bytes", "disk_size_bytes"):
        with pytest.raises(ValidationError):
            VmCreate.model_validate({"name": "x", field: SIZE_MAX + 1})
    for size in (0, SIZE_MAX + 1):
        with pytest.raises(ValidationError):
            DiskAdd(name="x", size_bytes=size)
    for spec in ({"cpus": 0}, {"cpus": VCPUS_MAX + 1}, {"max_cpus": 2**40}):
        with pytest.raises(ValidationError):
            VmSpec.model_validate({"name": "x", **spec})


# -- 5. sizes: both unit systems named, 64-bit bound, sane formatting ------------


def test_a_unit_message_says_both_powers() -> None:
    with pytest.raises(SizeError) as caught:
        parse_size("1.5Q")
    assert "M = MiB = 2**20 bytes" in str(caught.value)
    assert "MB = 10**6 bytes" in str(caught.value)


@pytest.mark.parametrize(
    "text", ["97656250000000004653056T", "100000000000000000000T", "9" * 100_000, "8193P"]
)
def test_a_size_over_64_bits_is_refused_at_parse_time(text: str) -> None:
    with pytest.raises(SizeError) as caught:
        parse_size(text)
    message = str(caught.value)
    assert "more than 8 EiB" in message and "64-bit" in message
    assert len(message) < 300


def test_the_largest_sizes_format_sensibly() -> None:
    assert format_size(SIZE_MAX) == "8 EiB"
    assert format_size(3 * 2**50) == "3 PiB"
    assert format_size(2**80) == "1.05e+6 EiB"
    assert len(format_size(97656250000000004653056 * 2**40)) < 16


def test_a_huge_memory_option_is_one_sentence(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "vm", "create", "big", "--import-disk", "/x", "--memory",
                      "97656250000000004653056T", tmp=tmp_path)  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "more than 8 EiB" in result.stderr and "Traceback" not in result.stderr


# -- 6. no trailing spaces when piped --------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["vm", "show", "test"],
        ["vm", "disk", "list", "test"],
        ["vm", "nic", "list", "test"],
        ["host", "check"],
    ],
)
def test_piped_output_has_no_trailing_spaces(tmp_path: Path, args: list[str]) -> None:
    result = virtdeck("-c", TEST_URI, *args, tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    padded = [line for line in lines_of(result.stdout) if line.endswith(" ")]
    assert not padded, padded


def test_snapshot_and_operation_listings_have_no_trailing_spaces(cli: Any) -> None:
    made = cli("vm", "snapshot", "create", MARKUP_NAME, "s1", "--description", "")
    assert made.exit_code == 0, (made.output, made.exception)
    for args in (("vm", "snapshot", "list", MARKUP_NAME), ("operation", "show", "1")):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert not [line for line in lines_of(result.output) if line.endswith(" ")], args
    assert lines_of(cli("vm", "snapshot", "list", MARKUP_NAME).output)[1].startswith("s1 *  ")
    cli("vm", "snapshot", "delete", MARKUP_NAME, "s1")


# -- 7. YAML specs and names -----------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
name: *i
"""


def refused(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        load_spec(text, "vm.yaml")
    message = caught.value.message
    assert "\n" not in message and len(message) < 500, message
    return message


def test_the_billion_laughs_is_refused_with_bounded_memory() -> None:
    tracemalloc.start()
    try:
        message = refused(BILLION_LAUGHS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "vm.yaml has more than 50 aliases (*name), the 51st at line 7" in message
    assert peak < 50 * 2**20, f"peak {peak} bytes"


def test_the_billion_laughs_through_the_cli(tmp_path: Path) -> None:
    spec = tmp_path / "bomb.yaml"
    spec.write_text(BILLION_LAUGHS)
    result = virtdeck("-c", TEST_URI, "apply", "-f", str(spec), tmp=tmp_path)
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith(f"error: {spec} has more than 50 aliases"), result.stderr


def test_a_deep_or_long_document_is_refused() -> None:
    assert "vm.yaml is nested more than 32 levels" in refused("name: " + "[" * 10_000)
    assert "vm.yaml is larger than 256 KiB" in refused("name: x\n" + "#" * 300_000 + "\n")


def test_an_endless_stdin_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    feed = subprocess.Popen(["yes", "# padding"], stdout=subprocess.PIPE)
    try:
        result = run_virtdeck(
            *("-c", TEST_URI, "apply", "-f", "-"),
            stdin=feed.stdout,
            env={**os.environ, "VIRTDECK_DATA_DIR": str(tmp_path)},
            timeout=60,
        )
    finally:
        feed.kill()
        feed.wait()
    assert result.returncode == 4, result.stderr
    assert "the spec on stdin is larger than 256 KiB" in result.stderr


def test_duplicate_keys_and_second_documents_are_refused() -> None:
    message = refused("name: a\ncpus: 1\nmemory: 1G\ncpus: 2\n")
    assert "vm.yaml gives the key 'cpus' twice (lines 2 and 4); keep one" in message
    assert "twice (lines 1 and 1)" in refused("{name: a, name: b}\n")
    message = refused("name: a\n---\nname: b\n")
    assert "more than one YAML document (the second starts at line 2)" in message


def test_values_python_cannot_build_are_one_sentence() -> None:
    assert "has a number of 5000 characters at line 2" in refused("name: x\ncpus: " + "9" * 5000)
    message = refused("name: x\nimage: 2001-13-45\n")
    assert "has a value at line 2 that cannot be read (month must be in 1..12)" in message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\ncpus: true\n", "cpus has a bad value True"),
        ("name: x\ncpus: '2'\n", "cpus has a bad value '2'"),
        ("name: x\ncpus: 2.0\n", "cpus has a bad value 2.0"),
        ("name: x\nmax_cpus: 5000\n", "max_cpus has a bad value 5000"),
        ("name: x\nmemory: 1.5\n", "memory has a bad value 1.5"),
        ("name: x\nmemory: 100000000000000000000T\n", "more than 8 EiB"),
        ("name: x\nautostart: 1\n", "autostart has a bad value 1"),
        ("name: 123\n", "name has a bad value 123"),
        ("name: x\nnetworks: [[a, b]]\n", "networks.0 has a bad value a list of 2 items"),
    ],
)
def test_the_spec_is_strict(text: str, needle: str) -> None:
    assert needle in refused(text)


def test_a_quoted_value_is_cut_to_length() -> None:
    message = refused("name: x\ngraphics: " + "v" * 100_000 + "\n")
    assert "'" + "v" * 80 + "'… (100000 characters)" in message
    message = refused("name: x\n" + "k" * 500 + ": 1\n")
    assert "unknown key '" + "k" * 80 + "'… (500 characters)" in message


def test_an_empty_snapshot_name_is_refused(tmp_path: Path, engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="snapshot name cannot be empty"):
        engine.create_snapshot("test", "")
    result = virtdeck("-c", TEST_URI, "vm", "snapshot", "create", "test", "", tmp=tmp_path)
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith("error: snapshot name cannot be empty"), result.stderr
    assert "leave it out to name it after the date and time" in result.stderr


def test_the_cli_starts_without_yaml() -> None:
    code = (
        "import sys, virtdeck.cli.main; "
        "print([m for m in ('yaml', 'virtdeck.engine.spec_yaml') if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
