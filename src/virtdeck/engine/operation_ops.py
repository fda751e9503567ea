"""Long work as operations: a recorded row with progress, and recovery.

Create, clone and snapshot run inside ``operation()``. The row says what is
happening now (``vm create`` shows it as a status line) and lists what the
operation has made that no VM owns yet. A failure cleans up in the code
that failed; a process that dies cannot, so the next operation on the same
host, or ``virtdeck operation list``, finds the orphaned row, removes what
it lists and marks it interrupted, saying what it removed and what it kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from virtdeck.errors import Conflict, Interrupted, NotFound, VirtdeckError
from virtdeck.host import disk_users, domains

from .base import EngineBase
from .operation_record import FAILED, INTERRUPTED, SUCCEEDED, OperationRecord, Resource
from .schemas import OperationInfo

if TYPE_CHECKING:
    from .operations import OperationStore

ProgressListener = Callable[[OperationInfo], None]


def operation_info(record: OperationRecord) -> OperationInfo:
    return OperationInfo(
        id=record.id,
        kind=record.kind,
        target=record.target,
        state=record.state,  # type: ignore[arg-type]
        step=record.step,
        progress=record.progress,
        error=record.error,
        started_at=record.started_at,
        ended_at=record.ended_at,
        pending=[f"{r.type} {r.name}" for r in record.resources],
    )


def _interrupted(removed: list[str], kept: list[str], released: bool) -> str:
    """What a Ctrl-C'd operation tells its user: what it removed and what it kept."""
    parts = ["stopped with Ctrl-C"]
    if removed:
        parts.append("removed " + ", ".join(removed))
    if kept:
        parts.append("kept " + ", ".join(kept))
    if not removed and not kept:
        parts.append("its work was done and stays" if released else "nothing had been made yet")
    return "; ".join(parts)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, VirtdeckError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "stopped with Ctrl-C"
    return f"{type(exc).__name__}: {exc}"


class OperationRun:
    """The handle a running operation reports through."""

    def __init__(self, store: OperationStore, op_id: int, listener: ProgressListener | None):
        self.id = op_id
        self._store = store
        self._listener = listener
        self._resources: list[Resource] = []
        self.released = False

    def step(self, text: str, progress: int | None = None) -> None:
        self._publish(self._store.update(self.id, step=text, progress=progress))

    def made_file(self, path: Path) -> None:
        """``path`` now exists because of this operation (recorded before it is filled)."""
        self._add(Resource("file", str(path)))

    def made_domain(self, uuid: str) -> None:
        self._add(Resource("domain", uuid))

    @property
    def unowned(self) -> list[Resource]:
        """What it has made that no VM owns yet."""
        return list(self._resources)

    def release(self) -> None:
        """What was made now belongs to a finished VM; an interruption keeps it."""
        self._resources.clear()
        self._store.update(self.id, resources=[])
        self.released = True

    def _add(self, resource: Resource) -> None:
        self._resources.append(resource)
        self._store.update(self.id, resources=self._resources)

    def _publish(self, record: OperationRecord) -> None:
        if self._listener is not None:
            self._listener(operation_info(record))


class OperationsMixin(EngineBase):
    # Set by a front end that shows progress (the CLI's status line).
    on_progress: ProgressListener | None = None

    @contextlib.contextmanager
    def operation(self, kind: str, target: str, first_step: str) -> Iterator[OperationRun]:
        self.recover_interrupted()
        store = self.operation_store
        op_id = store.begin(self.host.uri, kind, target, first_step)
        run = OperationRun(store, op_id, self.on_progress)
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
                left = ", ".join(f"{r.type} {r.name}" for r in made)
                raise Interrupted(
                    "stopped with Ctrl-C, and again while removing what it had made; "
                    f"the next virtdeck command removes what is left of {left}"
                ) from exc
            except Exception as cleanup:
                removed, kept = [], [f"what it made (clean-up failed: {cleanup})"]
            removed += [r.name for r in gone]
            if isinstance(exc, KeyboardInterrupt):
                message = _interrupted(removed, kept, run.released)
                store.finish(op_id, INTERRUPTED, message)
                raise Interrupted(message) from exc
            why = _reason(exc)
            store.finish(op_id, FAILED, f"{why}; kept {', '.join(kept)}" if kept else why)
            raise
        store.finish(op_id, SUCCEEDED, step="done")

    def list_operations(self, limit: int = 20) -> list[OperationInfo]:
        self.recover_interrupted()
        return [operation_info(r) for r in self.operation_store.recent(self.host.uri, limit)]

    def get_operation(self, op_id: int) -> OperationInfo:
        self.recover_interrupted()
        record = self.operation_store.get(op_id)
        if record is None or record.host_uri != self.host.uri:
            raise NotFound(
                f"no operation {op_id} on {self.host.uri}; 'virtdeck operation list' shows them"
            )
        return operation_info(record)

    def recover_interrupted(self) -> list[OperationInfo]:
        """Mark operations whose process died as interrupted; remove what they made."""
        store = self.operation_store
        recovered = []
        for record in store.orphaned(self.host.uri):
            with contextlib.ExitStack() as held:
                # Under the VM's lock, so that no live command is making a
                # file of the same name while this removes the dead one's.
                if not self.locked_here(record.target):
                    try:
                        held.enter_context(self.lock(record.target, "clean up after a crash"))
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
                name = dom.name()
                if domains.state_of(dom) in domains.ACTIVE_STATES:
                    kept.append(f"VM {name} (it is running)")
                    continue
                self.record_deletion(dom)
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
