"""Long operations on the test driver: the record, progress, and recovery.

An operation whose process died is simulated with a real process that dies:
a child starts an operation in the shared database and exits without
finishing it, as a killed ``vm create`` would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.progress_hook import on_step

from virtdeck.engine import Engine
from virtdeck.engine.operation_record import process_alive, process_identity
from virtdeck.engine.schemas import OperationInfo, VmCreate
from virtdeck.errors import InvalidInput, NotFound


def create_request(name: str, disk: Path, **extra: object) -> VmCreate:
    return VmCreate.model_validate(
        {"name": name, "import_disk": str(disk), "memory_bytes": 128 * 2**20, **extra}
    )


def orphan_operation(
    engine: Engine, kind: str, target: str, domain_uuid: str, file: str | None = None
) -> None:
    """A child process begins an operation that made a definition (and a file), then dies."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from virtdeck.engine.db import open_migrated
        from virtdeck.engine.hosts import HostStore
        from virtdeck.engine.operations import OperationStore
        from virtdeck.engine.operation_record import Resource
        database = open_migrated(Path({str(engine.settings.data_dir)!r}))
        host_id = HostStore(database).ensure({engine.host.uri!r}).id
        store = OperationStore(database)
        op = store.begin(host_id, {kind!r}, {target!r}, "defining the VM")
        made = [Resource("domain", {domain_uuid!r})]
        if {file!r} is not None:
            made.append(Resource("file", {file!r}))
        store.update(op, progress=85, resources=made)
        os._exit(0)  # no finish(): the row stays 'running'
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_process_identity_tells_a_live_process_from_a_dead_one() -> None:
    assert process_alive(process_identity())
    child = subprocess.Popen(["sleep", "30"])
    try:
        identity = process_identity(child.pid)
        assert process_alive(identity)
        child.kill()
        # Killed but not yet collected by its parent (us): a zombie has ended.
        for _ in range(200):
            if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        assert not process_alive(identity)
    finally:
        child.kill()
        child.wait()
    assert not process_alive(identity)
    # The same pid started at another time is another process.
    boot, pid, _started = process_identity().split("/")
    assert not process_alive(f"{boot}/{pid}/1")
    assert not process_alive(f"another-boot/{pid}/{_started}")


def test_create_is_recorded_with_its_steps(
    engine: Engine, disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[OperationInfo] = []
    on_step(engine, monkeypatch, seen.append)
    engine.create_vm(create_request("op1", disk, start=True))
    assert [s.step for s in seen] == [
        f"checking the disk {disk}",
        "defining the VM",
        "starting the VM",
    ]
    assert [s.progress for s in seen] == sorted(s.progress for s in seen)
    [op] = engine.list_operations()
    assert (op.kind, op.target, op.state, op.progress, op.step) == (
        "create",
        "op1",
        "succeeded",
        100,
        "done",
    )
    assert op.pending == [] and op.error == "" and op.ended_at is not None
    assert engine.get_operation(op.id) == op


def test_a_failed_create_is_recorded_with_its_reason(engine: Engine, disk: Path) -> None:
    with pytest.raises(InvalidInput) as failure:
        engine.create_vm(create_request("op2", disk, memory_bytes=2**50))
    [op] = engine.list_operations()
    assert op.state == "failed" and op.error == failure.value.message
    assert op.pending == []


def test_a_create_failing_after_the_define_removes_the_definition(
    engine: Engine, disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_on_start(op: OperationInfo) -> None:
        if op.step == "starting the VM":
            raise RuntimeError("lost power")

    on_step(engine, monkeypatch, fail_on_start)
    with pytest.raises(RuntimeError):
        engine.create_vm(create_request("late", disk, start=True))
    assert "late" not in [v.name for v in engine.list_vms()]
    [op] = engine.list_operations()
    assert (op.state, op.error, op.pending) == ("failed", "RuntimeError: lost power", [])
    # Defined, then removed: both are in the history, so nothing is lost.
    assert [h.action for h in engine.vm_history("late")] == ["create", "delete"]
    assert disk.exists()  # an imported disk is never the create's to remove


def test_checks_that_fail_before_anything_starts_make_no_operation(
    engine: Engine, disk: Path
) -> None:
    with pytest.raises(InvalidInput):
        engine.create_vm(create_request("bad/name", disk))
    assert engine.list_operations() == []


def test_an_orphaned_create_is_interrupted_and_its_definition_removed(
    engine: Engine, disk: Path
) -> None:
    vm = engine.create_vm(create_request("half", disk))
    uuid = engine.defs.lookup("half").uuid
    orphan_operation(engine, "create", "half", uuid)
    ops = engine.list_operations()
    assert (ops[0].kind, ops[0].target, ops[0].state) == ("create", "half", "interrupted")
    assert "removed the definition of VM half" in ops[0].error
    assert ops[0].pending == []
    assert "half" not in [v.name for v in engine.list_vms()]
    # Kept in the history like any delete, so 'vm restore' can bring it back.
    assert engine.vm_history(vm.name)[-1].deleted
    # Recovery happens once.
    assert engine.recover_interrupted() == []


def test_an_orphaned_operation_keeps_a_vm_that_runs(engine: Engine, disk: Path) -> None:
    engine.create_vm(create_request("runs", disk, start=True))
    orphan_operation(engine, "create", "runs", engine.defs.lookup("runs").uuid)
    [recovered] = engine.recover_interrupted()
    assert recovered.state == "interrupted"
    assert "kept VM runs (it is running)" in recovered.error
    assert engine.get_vm("runs").state == "running"


def test_what_recovery_cannot_remove_is_reported_not_raised(
    engine: Engine, disk: Path, tmp_path: Path
) -> None:
    leftover = tmp_path / "leftover.qcow2"
    leftover.write_bytes(b"")
    engine.create_vm(create_request("stuck", disk))
    orphan_operation(engine, "create", "stuck", engine.defs.lookup("stuck").uuid, str(leftover))
    # The test driver makes no files, so virtdeck refuses to delete one there.
    [recovered] = engine.recover_interrupted()
    assert "removed the definition of VM stuck" in recovered.error
    assert f"kept {leftover} (cannot remove it: cannot delete a disk on test:///default" in (
        recovered.error
    )
    assert leftover.exists()


def test_an_orphan_on_a_vm_another_command_holds_waits_for_it(engine: Engine, disk: Path) -> None:
    engine.create_vm(create_request("busy", disk))
    orphan_operation(engine, "create", "busy", engine.defs.lookup("busy").uuid)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from virtdeck.engine.locks import FileLocks, LockKey\n"
            f"locks = FileLocks(Path({str(engine.settings.data_dir / 'locks')!r}))\n"
            f"with locks.hold(LockKey({engine.host.uri!r}, 'name', 'busy'), 'VM busy', 'edit'):\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        # A live command works on 'busy': its files are not touched now.
        assert engine.recover_interrupted() == []
        assert engine.list_operations()[0].state == "running"
    finally:
        holder.kill()
        holder.wait()
    [recovered] = engine.recover_interrupted()
    assert recovered.state == "interrupted" and "removed the definition of VM busy" in (
        recovered.error
    )


def test_unknown_operation(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no operation 42 on test:///default"):
        engine.get_operation(42)
