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

from virtdeck.errors import Conflict, NotFound, VirtdeckError
from virtdeck.host import domains, storage

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
            # VM owns goes, by the same rules as after a crash.
            try:
                _removed, kept = self._remove_unowned(run.unowned)
            except Exception as cleanup:
                kept = [f"what it made (clean-up failed: {cleanup})"]
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
        in_use: set[str] = set()
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
                    in_use.update(storage.disk_paths_of(dom.XMLDesc(0)))
                    continue
                self.record_deletion(dom)
                domains.undefine(self.host, name)
                removed.append(f"the definition of VM {name}")
            except VirtdeckError as exc:
                kept.append(f"the VM with UUID {res.name} ({exc.message})")
        files = [Path(res.name) for res in resources if res.type == "file"]
        if files:
            try:
                in_use.update(self._disk_paths_in_use())
            except VirtdeckError as exc:
                kept += [
                    f"{path} (cannot tell whether a VM uses it: {exc.message})" for path in files
                ]
                files = []
        for path in files:
            try:
                if str(path) in in_use:
                    kept.append(f"{path} (a VM uses it)")
                elif storage.delete_file(self.host, path):
                    removed.append(str(path))
            except (OSError, VirtdeckError) as exc:
                kept.append(f"{path} ({getattr(exc, 'message', None) or exc})")
        return removed, kept

    def _disk_paths_in_use(self) -> set[str]:
        def every_disk(conn: object) -> set[str]:
            paths: set[str] = set()
            for dom in conn.listAllDomains(0):  # type: ignore[attr-defined]
                paths.update(storage.disk_paths_of(dom.XMLDesc(0)))
            return paths

        return self.host.call("list the disks of every VM", every_disk)
