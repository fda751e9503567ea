"""``vm history`` and ``vm restore``: every earlier definition, and undo."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING

from virtdeck.errors import Conflict, InvalidInput, NotFound
from virtdeck.host import domains
from virtdeck.model import Domain

from .base import EngineBase
from .schemas import HistoryEntry, RestoreResult

if TYPE_CHECKING:
    from .history import Version


def _diff(old: str, new: str, old_label: str, new_label: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_label,
            tofile=new_label,
        )
    )


class HistoryMixin(EngineBase):
    def _versions(self, name: str) -> list[Version]:
        if domains.exists(self.host, name):
            self.observe(self.lookup(name))
        found = self.history.versions(self.host.uri, name)
        if not found:
            raise NotFound(
                f"virtdeck has no history for a VM named {name!r} on {self.host.uri}; "
                "history starts when virtdeck first sees or changes a VM"
            )
        return found

    def vm_history(self, name: str) -> list[HistoryEntry]:
        entries = []
        previous: Version | None = None
        for v in self._versions(name):
            diff = (
                ""
                if previous is None
                else _diff(
                    previous.xml, v.xml, f"version {previous.version}", f"version {v.version}"
                )
            )
            entries.append(
                HistoryEntry(
                    version=v.version,
                    action=v.action,
                    created_at=v.created_at,
                    deleted=v.deleted,
                    diff=diff,
                )
            )
            previous = v
        return entries

    def vm_history_xml(self, name: str, version: int) -> str:
        return self._pick(self._versions(name), version).xml

    @staticmethod
    def _pick(versions: list[Version], number: int) -> Version:
        for v in versions:
            if v.version == number:
                return v
        known = ", ".join(str(v.version) for v in versions)
        raise InvalidInput(f"there is no version {number}; versions are {known}")

    def vm_restore(self, name: str, version: int | None = None) -> RestoreResult:
        with self.lock(name, "restore"):
            versions = self._versions(name)
            newest = versions[-1]
            exists = domains.exists(self.host, name)
            if exists and self.lookup(name).UUIDString() != newest.uuid:
                raise Conflict(f"another VM named {name!r} exists now; rename or delete it first")
            if version is not None:
                chosen = self._pick(versions, version)
            elif not exists:
                # A deleted VM comes back as it was when it was deleted.
                chosen = newest
            elif len(versions) >= 2:
                # An existing VM: undo its last change.
                chosen = versions[-2]
            else:
                raise InvalidInput(f"VM {name} has only one version; nothing to go back to")
            self.redefine(chosen.xml, f"restore-v{chosen.version}")
            model = Domain.from_xml(chosen.xml)
            present: list[str] = []
            missing: list[str] = []
            for disk in model.disks:
                if disk.path is None:
                    continue
                (present if Path(disk.path).exists() else missing).append(disk.path)
            running = exists and domains.state_of(self.lookup(name)) in domains.ACTIVE_STATES
        return RestoreResult(
            name=name,
            version=chosen.version,
            was_deleted=not exists,
            running=running,
            disks_present=present,
            disks_missing=missing,
        )
