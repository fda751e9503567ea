"""The operation runner: submit returns at once, the work runs on, a cancel stops it cleanly."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from tests.errors_cli import cli_text
from tests.lock_holder import held_elsewhere

from virtdeck.cli.operation_cmds import error_text as recorded_error
from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.engine.services import operations as operations_module
from virtdeck.engine.services.operation_run import OperationRun
from virtdeck.errors import Conflict, Interrupted, InvalidInput, NotFound


class Made(BaseModel):
    value: int


@pytest.fixture
def vm(engine: Engine) -> Iterator[str]:
    name = f"runner-{uuid.uuid4().hex[:6]}"
    handle = engine.defs.redefine(
        f"<domain type='test'><name>{name}</name><uuid>{uuid.uuid4()}</uuid>"
        "<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
        "create",
    )
    yield name
    handle.undefine()


def test_submit_returns_while_the_work_runs_and_result_waits_for_it(engine: Engine) -> None:
    go = threading.Event()

    def work(run: OperationRun) -> Made:
        run.step("waiting for the test", 50)
        go.wait(30)
        return Made(value=7)

    op = engine.ops.submit("test", "runner-a", "starting", work)
    assert op.state == "running"
    assert engine.wait_operation(op.id, timeout=0.1).state == "running"
    go.set()
    assert engine.operation_result(op.id, Made) == Made(value=7)
    done = engine.get_operation(op.id)
    assert (done.state, done.progress, done.result) == ("succeeded", 100, {"value": 7})
    # Collected once: it is no longer this process's to hand out.
    with pytest.raises(NotFound):
        engine.operation_result(op.id, Made)


def test_the_error_the_work_ended_with_is_raised_and_recorded(engine: Engine) -> None:
    def work(_run: OperationRun) -> Made:
        raise Conflict("the VM changed meanwhile")

    op = engine.ops.submit("test", "runner-b", "starting", work)
    with pytest.raises(Conflict, match="changed meanwhile"):
        engine.operation_result(op.id, Made)
    failed = engine.get_operation(op.id)
    assert (failed.state, failed.error_code) == ("failed", "conflict")
    assert failed.error == "the VM changed meanwhile"


def test_a_cancel_stops_the_work_at_its_next_step_and_removes_what_it_made(
    engine: Engine, tmp_path: Path
) -> None:
    made = tmp_path / "half.qcow2"
    stepped = threading.Event()
    cancelled = threading.Event()

    def work(run: OperationRun) -> Made:
        made.write_bytes(b"")
        run.made_file(made)
        run.step("copying", 10)
        stepped.set()
        cancelled.wait(30)
        run.step("copying", 20)  # the cancel takes effect here
        return Made(value=0)

    op = engine.ops.submit("test", "runner-c", "starting", work)
    assert stepped.wait(30)
    engine.cancel_operation(op.id)
    cancelled.set()
    with pytest.raises(Interrupted) as caught:
        engine.operation_result(op.id, Made)
    # The test driver's host is not this machine, so the file is kept, and said to be.
    assert caught.value.message.startswith(f"stopped with Ctrl-C; kept {made} (cannot remove it")
    ended = engine.get_operation(op.id)
    assert (ended.state, ended.error_code, ended.pending) == ("interrupted", "interrupted", [])


def test_a_busy_vm_is_a_conflict_from_submit_with_no_operation_recorded(
    engine: Engine, vm: str
) -> None:
    handle = engine.defs.lookup(vm)

    def work(_run: OperationRun) -> Made:
        raise AssertionError("ran although the VM was busy")

    with held_elsewhere(engine, vm, "snapshot"), pytest.raises(Conflict, match="busy"):
        engine.ops.submit(
            "test", vm, "starting", work, hold=lambda: engine.ctx.lock_vm(handle, "test")
        )
    assert engine.list_operations() == []


def test_a_lock_the_caller_holds_is_another_commands_to_the_work(engine: Engine, vm: str) -> None:
    """The work runs in a context of its own: it does not inherit its caller's locks."""
    with engine.ctx.lock_vm(engine.defs.lookup(vm), "edit"), pytest.raises(Conflict, match="busy"):
        engine.create_snapshot(vm, "s1")


def test_a_running_operation_beats_and_stops_when_taken_over(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations_module, "HEARTBEAT_SECONDS", 0.05)
    beating = threading.Event()
    taken_over = threading.Event()

    def work(run: OperationRun) -> Made:
        store = engine.ctx.operation_store
        for _ in range(1000):
            record = store.get(run.id)
            if record is not None and record.heartbeat_at is not None:
                beating.set()
                break
            threading.Event().wait(0.02)
        taken_over.wait(30)
        for _ in range(200):  # until the next beat sees the row taken over
            run.step("working", 20)
            threading.Event().wait(0.01)
        return Made(value=0)

    op = engine.ops.submit("test", "runner-d", "starting", work)
    assert beating.wait(30)
    assert engine.ctx.operation_store.take_over(op.id)
    taken_over.set()
    with pytest.raises(Interrupted, match="another process took it for dead"):
        engine.operation_result(op.id, Made)


def test_a_recorded_error_keeps_the_fields_it_names_for_the_cli_to_spell(
    engine: Engine, disk: Path
) -> None:
    request = VmCreate(
        name=f"runner-{uuid.uuid4().hex[:6]}",
        import_disk=str(disk),
        networks=[],
        graphics="none",
        memory_bytes=2**50,
    )
    with pytest.raises(InvalidInput) as caught:
        engine.create_vm(request)
    [op] = engine.list_operations(1)
    assert op.error == caught.value.message  # the neutral words: 'memory_bytes' ...
    assert any(part.field and part.text == "memory_bytes" for part in op.error_parts)
    # operation list and show print it as 'vm create' printed it.
    assert recorded_error(op) == cli_text(caught.value)
    assert recorded_error(op).startswith("--memory 1 PiB is more than this host has")
