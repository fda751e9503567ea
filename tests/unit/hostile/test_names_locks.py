"""Hostile names never choose a path, and locks leave nothing behind (issue 7).

Before: the lock file was ``<data>/locks/<name>.lock``, made before the name
was checked, so ``vm stop ../../../../etc/x`` created or truncated
``/etc/x.lock`` and a 4 KB name ended in a traceback (ENAMETOOLONG).
"""

from __future__ import annotations

import multiprocessing
import os
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from virtdeck.engine import Engine
from virtdeck.engine.locks import FileLocks, LockKey
from virtdeck.errors import Conflict, InvalidInput, NotFound

URI = "test:///default"


def lock_path(lock_dir: Path, host_uri: str, name: str) -> Path:
    """Where the lock of a VM name (a name being claimed) on ``host_uri`` lives."""
    return FileLocks(lock_dir).path(LockKey(host_uri, "name", name))


def vm_lock(lock_dir: Path, host_uri: str, name: str, action: str) -> AbstractContextManager[None]:
    return FileLocks(lock_dir).hold(LockKey(host_uri, "name", name), f"VM {name}", action)


@pytest.mark.parametrize(
    "name", ["../../../../tmp/vdt-escape", "x" * 4096, "a/b", "nl\nx", "nul\x00x", ""]
)
def test_a_hostile_name_is_refused_before_any_file(tmp_path: Path, name: str) -> None:
    locks = tmp_path / "data" / "locks"
    with pytest.raises(InvalidInput), vm_lock(locks, URI, name, "stop"):
        pass
    assert not locks.exists() or list(locks.iterdir()) == []
    assert not Path("/tmp/vdt-escape.lock").exists()


def test_lock_paths_are_digests_of_host_and_name(tmp_path: Path) -> None:
    path = lock_path(tmp_path, URI, "web1")
    assert path.parent == tmp_path and "web1" not in path.name
    assert len(path.name) == len(lock_path(tmp_path, URI, "w" * 255).name)
    assert path != lock_path(tmp_path, "qemu:///system", "web1")


def test_the_lock_file_goes_when_the_lock_is_released(tmp_path: Path) -> None:
    with vm_lock(tmp_path, URI, "web1", "edit"):
        path = lock_path(tmp_path, URI, "web1")
        assert path.read_text() == f"edit by pid {os.getpid()}"
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert list(tmp_path.iterdir()) == []


def test_engine_commands_on_unknown_or_hostile_names_leave_no_lock(engine: Engine) -> None:
    locks = engine.settings.data_dir / "locks"
    with pytest.raises(NotFound):
        engine.stop_vm("nosuch")
    with pytest.raises(InvalidInput):
        engine.start_vm("../../../etc/x")
    with pytest.raises(InvalidInput, match="longer than 255 characters"):
        engine.delete_vm("y" * 4096)
    assert not locks.exists() or list(locks.iterdir()) == []


def _hold_and_report(locks: str, ready: object, release: object) -> None:
    with vm_lock(Path(locks), URI, "busy", "test"):
        ready.set()  # type: ignore[attr-defined]
        release.wait(10)  # type: ignore[attr-defined]


def test_the_lock_still_excludes_across_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_and_report, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(Conflict, match=r"VM busy is busy \(test by pid"),
            vm_lock(tmp_path, URI, "busy", "second"),
        ):
            pass
    finally:
        release.set()
        holder.join(10)
    # Released and unlinked: the next command gets it at once.
    with vm_lock(tmp_path, URI, "busy", "third"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_vm_renamed_between_its_lookup_and_its_lock_is_not_acted_on(engine: Engine) -> None:
    """A VM is locked by UUID; if its name moved on meanwhile, the command stops there."""
    name = f"lockrn-{os.getpid()}"
    handle = engine.defs.redefine(
        f"<domain type='test'><name>{name}</name><memory>65536</memory>"
        "<os><type>hvm</type></os></domain>",
        "create",
    )
    try:
        engine.host.conn.lookupByName(name).rename(f"{name}-moved", 0)
        with (
            pytest.raises(Conflict, match=f"renamed to {name}-moved meanwhile"),
            engine.ctx.lock_vm(handle, "delete"),
        ):
            pytest.fail("the lock was taken on a VM whose name had changed")
        handle.name = f"{name}-moved"
        with engine.ctx.lock_vm(handle, "delete"):
            pass
    finally:
        handle.undefine()
