"""The CLI waiting for an operation: Ctrl-C cancels it, a second Ctrl-C leaves at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import typer
import typer.core
from pydantic import BaseModel

from virtdeck.cli.context import AppState
from virtdeck.cli.waiting import wait_for
from virtdeck.engine import Engine
from virtdeck.engine.schemas import OperationInfo
from virtdeck.engine.services.operation_run import OperationRun
from virtdeck.errors import Interrupted


class Made(BaseModel):
    value: int


def _context(engine: Engine) -> typer.Context:
    ctx = typer.Context(typer.core.TyperCommand(name="test"))
    ctx.obj = AppState(_engine=engine)
    return ctx


def _slow_work(made: Path, go: threading.Event) -> tuple[threading.Event, object]:
    stepped = threading.Event()

    def work(run: OperationRun) -> Made:
        made.write_bytes(b"")
        run.made_file(made)
        run.step("copying", 10)
        stepped.set()
        go.wait(30)
        run.step("copying", 50)
        return Made(value=1)

    return stepped, work


def test_ctrl_c_cancels_the_operation_and_says_what_it_did(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, go = tmp_path / "half.qcow2", threading.Event()
    stepped, work = _slow_work(made, go)
    op = engine.ops.submit("test", "wait-a", "starting", work)  # type: ignore[arg-type]
    assert stepped.wait(30)
    real = engine.wait_operation
    presses = []

    def ctrl_c_once(op_id: int, timeout: float | None = None) -> OperationInfo:
        if not presses:
            presses.append(1)
            raise KeyboardInterrupt
        go.set()  # the work reaches its next step, where the cancel takes effect
        return real(op_id, timeout)

    monkeypatch.setattr(engine, "wait_operation", ctrl_c_once)
    with pytest.raises(Interrupted) as caught:
        wait_for(_context(engine), op, Made)
    assert caught.value.message.startswith("stopped with Ctrl-C; ")
    assert engine.get_operation(op.id).state == "interrupted"


def test_a_second_ctrl_c_leaves_at_once_and_names_what_is_left(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, go = tmp_path / "half.qcow2", threading.Event()
    stepped, work = _slow_work(made, go)
    op = engine.ops.submit("test", "wait-b", "starting", work)  # type: ignore[arg-type]
    assert stepped.wait(30)

    def ctrl_c(_op_id: int, _timeout: float | None = None) -> OperationInfo:
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "wait_operation", ctrl_c)
    try:
        with pytest.raises(Interrupted) as caught:
            wait_for(_context(engine), op, Made)
        assert caught.value.message == (
            "stopped with Ctrl-C, and again while removing what it had made; "
            f"the next virtdeck command removes what is left of file {made}"
        )
    finally:
        go.set()
        with pytest.raises(Interrupted):
            engine.operation_result(op.id, Made)
