"""Errors without front-end words: fields and hints as data, spelt by each front end."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from virtdeck.cli.errors import HINT_COMMANDS, cli_message, option_of
from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.engine.validation import from_validation_error
from virtdeck.errors import Conflict, Hint, HintAction, InvalidInput, error_from_code, opt
from virtdeck.model import SizeError

SRC = Path(__file__).resolve().parents[2] / "src" / "virtdeck"


def test_a_marked_field_is_the_cli_option_and_a_neutral_name_elsewhere() -> None:
    exc = InvalidInput(
        f"{opt('max_memory_bytes')} is below {opt('memory_bytes')}", field="max_memory_bytes"
    )
    assert exc.message == "'max_memory_bytes' is below 'memory_bytes'"
    assert str(exc) == exc.message
    assert exc.fields == ["max_memory_bytes", "memory_bytes"]
    assert cli_message(exc) == "--max-memory is below --memory"


def test_a_hint_is_a_command_only_in_the_cli() -> None:
    exc = Conflict("VM web1 is running; stop it first", hint=Hint("vm.stop", vm="web1"))
    assert "virtdeck" not in exc.message
    assert cli_message(exc) == "VM web1 is running; stop it first ('virtdeck vm stop web1')"
    renamed = Conflict("x", hint=Hint("vm.rename", vm="a", args={"new_name": "b"}))
    assert cli_message(renamed) == "x ('virtdeck vm rename a b')"


def test_text_from_elsewhere_is_never_taken_for_a_field() -> None:
    # Braces, percent signs and the like in a path or a libvirt message stay as they are.
    exc = InvalidInput("cannot read /srv/{opt:force}/%s/disk.qcow2")
    assert cli_message(exc) == exc.message == "cannot read /srv/{opt:force}/%s/disk.qcow2"


def test_every_hint_action_has_a_command() -> None:
    assert set(HINT_COMMANDS) == set(typing.get_args(HintAction))


def test_a_recorded_error_comes_back_as_its_class() -> None:
    again = error_from_code("conflict", "VM x is busy")
    assert isinstance(again, Conflict) and again.exit_code == 3 and again.message == "VM x is busy"
    assert type(error_from_code("no-such-code", "m")).__name__ == "VirtdeckError"


def test_a_validation_error_is_one_sentence_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        VmCreate(name="x", cpus=10**9)
    error = from_validation_error(caught.value)
    assert isinstance(error, InvalidInput) and error.field == "cpus"
    assert error.message.startswith("cpus has a bad value 1000000000 (")
    assert "\n" not in error.message


def test_model_errors_become_invalid_input_at_the_engine_boundary(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad_size(_name: str) -> None:
        raise SizeError("size '12Q' has an unknown unit; use K, M, G or T")

    monkeypatch.setattr(engine.vms, "get_vm", bad_size)
    with pytest.raises(InvalidInput, match="unknown unit") as caught:
        engine.get_vm("anything")
    assert isinstance(caught.value.__cause__, SizeError)


def _cli_options() -> set[str]:
    import typer.main  # noqa: PLC0415

    from virtdeck.cli.main import app  # noqa: PLC0415

    found: set[str] = set()

    def walk(command: object) -> None:
        for param in getattr(command, "params", []):
            found.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def test_every_field_a_message_names_is_a_cli_option() -> None:
    """An opt("x") in the engine or host spells as an option the CLI really has."""
    source = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    named = set(re.findall(r"\bopt\([\"']([a-z_]+)[\"']\)", source))
    assert named, "found no opt() at all: the pattern is wrong"
    options = _cli_options()
    assert {name: option_of(name) for name in named if option_of(name) not in options} == {}
