"""Long work as operations: a recorded row with progress, a runner, and recovery.

``submit()`` starts the work on a thread of its own and returns the
operation's record at once; ``wait()`` and ``result()`` follow it, and
``cancel()`` stops it at its next step. Create, clone and snapshot run this
way, each inside ``operation()``. The row says what is
happening now (``vm create`` shows it as a status line) and lists what the
operation has made that no VM owns yet. A failure cleans up in the code
that failed; a process that dies cannot, so the next operation on the same
host, or the operation list, finds the orphaned row, removes what it lists
and marks it interrupted, saying what it removed and what it kept. While an
operation runs its row gets a heartbeat, so a process on another machine
that shares the database never takes a live operation for dead.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from virtdeck.errors import Conflict, Hint, Interrupted, NotFound, VirtdeckError, marked_parts
from virtdeck.host import disk_users, domains

from .. import actors
from ..context import HostContext
from ..definitions import Definitions
from ..operation_record import FAILED, INTERRUPTED, SUCCEEDED, Resource
from ..schemas import OperationInfo
from .operation_run import (
    CTRL_C,
    OperationRun,
    code_of,
    interrupted_message,
    operation_info,
    reason_of,
)

if TYPE_CHECKING:
    from ..operations import OperationStore

M = TypeVar("M", bound=BaseModel)
# How often a running operation's row says it is alive, and after how long
# without a word an operation of another machine counts as dead.
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 60.0
# How long a finished operation's outcome (the exception object, the result)
# stays in memory for a result() call; after that only its row has it.
UNCOLLECTED_SECONDS = 600.0


@dataclass
class _Running:
    """An operation this process runs: its run once begun, and how it ended."""

    run: OperationRun | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    ended: float = 0.0  # time.monotonic() when it ended


class OperationService:
    def __init__(self, ctx: HostContext, defs: Definitions) -> None:
        self.ctx = ctx
        self.defs = defs
        self.host = ctx.host
        self._running: dict[int, _Running] = {}

    @property
    def store(self) -> OperationStore:
        return self.ctx.operation_store

    # -- running work ---------------------------------------------------------
    def submit(
        self,
        kind: str,
        target: str,
        first_step: str,
        work: Callable[[OperationRun], BaseModel],
        hold: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> OperationInfo:
        """Start ``work`` on a thread of its own; the operation's record at once.

        ``hold`` gives the locks the work needs. They are taken on that
        thread before the operation's row is made, so a busy VM is a
        Conflict raised here, with no operation recorded.
        """
        self._forget_uncollected()
        began = threading.Event()
        entry = _Running()
        who = actors.current_actor.get()

        def body() -> None:
            # The one thing of the caller's context it keeps: whom it works for.
            actors.current_actor.set(who)
            try:
                with (
                    hold() if hold is not None else contextlib.nullcontext(),
                    self.operation(kind, target, first_step) as run,
                ):
                    entry.run = run
                    began.set()
                    run.result = work(run)
            except BaseException as exc:
                entry.error = exc
            finally:
                entry.ended = time.monotonic()
                began.set()
                entry.done.set()

        # The thread runs in a context of its own: it holds only the locks it
        # takes itself, and one this thread holds is another command's to it.
        thread = threading.Thread(
            target=contextvars.Context().run,
            args=(body,),
            name=f"operation {kind} {target}",
            daemon=True,
        )
        thread.start()
        began.wait()
        if entry.run is None:
            thread.join()
            assert entry.error is not None
            raise entry.error
        self._running[entry.run.id] = entry
        return self.get_operation(entry.run.id)

    def _forget_uncollected(self) -> None:
        """Drop what ended long ago and nobody asked for: its row keeps the outcome."""
        now = time.monotonic()
        for op_id, entry in list(self._running.items()):
            if entry.done.is_set() and now - entry.ended > UNCOLLECTED_SECONDS:
                self._running.pop(op_id, None)

    def wait(self, op_id: int, timeout: float | None = None) -> OperationInfo:
        """The operation once it has ended, or as it is after ``timeout`` seconds."""
        entry = self._running.get(op_id)
        if entry is not None:
            entry.done.wait(timeout)
        return self.get_operation(op_id)

    def result(self, op_id: int, kind: type[M]) -> M:
        """What the operation made, once it ended; the error it ended with, raised."""
        result = self._outcome(op_id)
        if not isinstance(result, kind):  # pragma: no cover - a caller's mistake
            raise TypeError(f"operation {op_id} made a {type(result).__name__}, not {kind}")
        return result

    def _outcome(self, op_id: int) -> BaseModel | None:
        entry = self._running.get(op_id)
        if entry is None:
            raise NotFound(
                f"operation {op_id} does not run in this process, so its result is not here",
                hint=Hint("operation.list"),
            )
        entry.done.wait()
        del self._running[op_id]
        if entry.error is not None:
            raise entry.error
        return entry.run.result if entry.run is not None else None

    def cancel(self, op_id: int, reason: str = CTRL_C) -> None:
        """Ask a running operation to stop at its next step (it removes what it made)."""
        entry = self._running.get(op_id)
        if entry is not None and entry.run is not None:
            entry.run.cancel(reason)

    @contextlib.contextmanager
    def operation(self, kind: str, target: str, first_step: str) -> Iterator[OperationRun]:
        self.recover_interrupted()
        store = self.store
        op_id = store.begin(self.ctx.host_id, kind, target, first_step)
        in_operation = actors.ACTIONS.attach_operation(op_id)
        run = OperationRun(store, op_id)
        beating = threading.Event()
        heart = threading.Thread(
            # A closure, not target/args: mypy checks the call.
            target=lambda: self._heartbeat(run, beating),
            name=f"heartbeat {op_id}",
            daemon=True,
        )
        heart.start()
        try:
            yield run
        except BaseException as exc:
            # A failed operation leaves nothing half-made: what it made and no
            # VM owns goes, by the same rules as after a crash. A file the
            # failing step removed itself (a half-written copy) is gone already.
            made = run.unowned
            gone = [r for r in made if r.type == "file" and not Path(r.name).exists()]
            try:
                removed, kept = self._remove_unowned([r for r in made if r not in gone])
            except KeyboardInterrupt:
                if not isinstance(exc, KeyboardInterrupt):
                    raise
                # A second Ctrl-C: the row stays 'running', so once this process
                # has ended the next command removes what is left, as after a crash.
                raise Interrupted.twice([f"{r.type} {r.name}" for r in made]) from exc
            except Exception as cleanup:
                removed, kept = [], [f"what it made (clean-up failed: {cleanup})"]
            removed += [r.name for r in gone]
            if isinstance(exc, KeyboardInterrupt) or run.cancel_reason is not None:
                reason = run.cancel_reason or CTRL_C
                message = interrupted_message(reason, removed, kept, run.released)
                store.finish(op_id, INTERRUPTED, message, error_code=Interrupted.code)
                raise Interrupted(message) from exc
            why = reason_of(exc)
            tail = f"; kept {', '.join(kept)}" if kept else ""
            parts = marked_parts(exc.template) if isinstance(exc, VirtdeckError) else []
            store.finish(
                op_id,
                FAILED,
                why + tail,
                error_code=code_of(exc),
                # Only an error that names a field needs its parts kept.
                error_parts=[*parts, (tail, False)] if any(f for _t, f in parts) else None,
            )
            raise
        finally:
            beating.set()
            actors.current_operation.reset(in_operation)
        result = run.result.model_dump_json() if run.result is not None else None
        store.finish(op_id, SUCCEEDED, step="done", result=result)

    def _heartbeat(self, run: OperationRun, stop: threading.Event) -> None:
        """Say every few seconds that this operation lives, until it ends.

        A row no longer running means another process took the operation
        for dead and cleaned up after it: this one stops at its next step.
        """
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                alive = self.store.heartbeat(run.id)
            except Exception:  # a missed beat (a busy database) is retried at the next
                continue
            if not alive:
                run.cancel("another process took it for dead and cleaned up after it")
                return

    # -- the record ------------------------------------------------------------
    def list_operations(self, limit: int = 20) -> list[OperationInfo]:
        self.recover_interrupted()
        return [operation_info(r) for r in self.store.recent(self.ctx.host_id, limit)]

    def get_operation(self, op_id: int) -> OperationInfo:
        record = self.store.get(op_id)
        if record is None or record.host_id != self.ctx.host_id:
            raise NotFound(f"no operation {op_id} on {self.host.uri}", hint=Hint("operation.list"))
        return operation_info(record)

    def recover_interrupted(self) -> list[OperationInfo]:
        """Mark operations whose process died as interrupted; remove what they made."""
        store = self.store
        recovered = []
        for record in store.orphaned(self.ctx.host_id, STALE_AFTER_SECONDS):
            with contextlib.ExitStack() as held:
                # Under the lock of the name it worked on, so that no live
                # command is making the same VM while this removes the dead one's.
                try:
                    key = self.ctx.name_key(record.target)
                except VirtdeckError:
                    key = None
                if key is not None and not self.ctx.locks.held_here(key):
                    try:
                        held.enter_context(
                            self.ctx.lock_name(record.target, "clean up after a crash")
                        )
                    except Conflict:
                        continue  # busy now; a later look cleans up
                # Two commands may find the same orphan; one takes it over.
                if not store.take_over(record.id):
                    continue
                removed, kept = self._remove_unowned(record.resources)
                parts = ["its process ended before it finished"]
                if removed:
                    parts.append("removed " + ", ".join(removed))
                if kept:
                    parts.append("kept " + ", ".join(kept))
                store.finish(record.id, INTERRUPTED, "; ".join(parts))
            refreshed = store.get(record.id)
            assert refreshed is not None
            recovered.append(operation_info(refreshed))
        return recovered

    def _remove_unowned(self, resources: list[Resource]) -> tuple[list[str], list[str]]:
        removed: list[str] = []
        kept: list[str] = []
        # Definitions first: a half-made VM goes (kept in the history, as any
        # delete), unless it runs, and then its disks stay with it.
        # Each step on its own: what cannot be removed is reported, and never
        # stops the command that happened to find the orphan.
        for res in resources:
            if res.type != "domain":
                continue
            try:
                dom = domains.by_uuid(self.host, res.name)
                if dom is None:
                    continue
                name = dom.name
                if dom.is_active():
                    kept.append(f"VM {name} (it is running)")
                    continue
                self.defs.record_deletion(dom)
                domains.undefine(self.host, name)
                removed.append(f"the definition of VM {name}")
            except VirtdeckError as exc:
                kept.append(f"the VM with UUID {res.name} ({exc.message})")
        files = [Path(res.name) for res in resources if res.type == "file"]
        try:
            # The same rule as 'vm delete': a file some VM uses (its disk, or a
            # backing file of one) stays, and the record says which VM.
            removal = disk_users.remove_unused(self.host, files)
        except VirtdeckError as exc:
            kept += [f"{path} (cannot tell whether a VM uses it: {exc.message})" for path in files]
            return removed, kept
        removed += removal.removed
        kept += [f"{path} ({removal.reasons.get(path, 'kept')})" for path in removal.kept]
        return removed, kept
