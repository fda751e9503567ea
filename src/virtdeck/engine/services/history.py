"""``vm history`` and ``vm restore``: every earlier definition, and undo.

History is kept per VM, by UUID: a name is not an identity. Several VMs may
have had one name (one deleted and another created under its name, one
renamed away), and ``vm history NAME`` lists each with its own versions. A
command that acts on one picks it by UUID (or a prefix of at least 8 hex
digits), or takes the only one, or the one that has the name now.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, opt
from virtdeck.host import domains
from virtdeck.host.handle import DomainHandle
from virtdeck.model import Domain

from ..context import HostContext
from ..definitions import Definitions
from ..digest import xml_digest
from ..schemas import HistoryEntry, RestoreResult, VmHistory
from ..versions import Version

# The shortest UUID prefix taken for a whole UUID.
MIN_UUID_PREFIX = 8


def _diff(old: str, new: str, old_label: str, new_label: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_label,
            tofile=new_label,
        )
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _entries(versions: list[Version]) -> list[HistoryEntry]:
    entries = []
    previous: Version | None = None
    for v in versions:
        diff = (
            ""
            if previous is None
            else _diff(previous.xml, v.xml, f"version {previous.version}", f"version {v.version}")
        )
        entries.append(
            HistoryEntry(
                uuid=v.uuid,
                name=v.name,
                version=v.version,
                action=v.action,
                created_at=v.created_at,
                deleted=v.deleted,
                diff=diff,
            )
        )
        previous = v
    return entries


def _renamed(xml: str, old: str, new: str) -> str:
    """``xml`` with the name ``new``, and serial logs named after it (as rename does)."""
    model = Domain.from_xml(xml)
    model.name = new
    for log in model.xpath("./devices/serial/log | ./devices/console/log"):
        path = Path(log.get("file") or "")
        if path.name.startswith(f"{old}-serial"):
            log.set("file", str(path.with_name(new + path.name[len(old) :])))
    return model.to_xml()


@dataclass(frozen=True)
class _Holder:
    """One VM (one UUID) that has had the name asked about."""

    uuid: str
    versions: list[Version]
    dom: DomainHandle | None  # the VM with this UUID now, if there is one

    @property
    def current_name(self) -> str | None:
        return None if self.dom is None else self.dom.name

    def has(self, name: str) -> bool:
        return self.current_name == name

    @property
    def deleted_at(self) -> datetime | None:
        last = self.versions[-1]
        return last.created_at if self.dom is None and last.deleted else None

    def seen(self, name: str) -> tuple[datetime, datetime]:
        """When it first had ``name``, and when it last had it (now, while it has it)."""
        named = [i for i, v in enumerate(self.versions) if v.name == name] or [0]
        first = self.versions[named[0]].created_at
        if self.has(name):
            return first, datetime.now(UTC)
        # Until the version that renamed it away, or its last one (its deletion).
        after = min(named[-1] + 1, len(self.versions) - 1)
        return first, self.versions[after].created_at

    def describe(self, name: str) -> str:
        if self.dom is not None:
            return "exists now" if self.has(name) else f"exists now as {self.current_name}"
        if self.deleted_at is not None:
            return f"deleted {_when(self.deleted_at)}"
        last = _when(self.versions[-1].created_at)
        return f"gone, undefined outside virtdeck (last seen {last})"


def _listing(name: str, holders: list[_Holder]) -> str:
    return ", ".join(f"{h.uuid} ({h.describe(name)})" for h in holders)


def _with_current(versions: list[Version], handle: DomainHandle | None, xml: str) -> list[Version]:
    """The recorded versions, and the definition as it is now if nothing recorded it yet.

    A change made outside virtdeck (virsh edit) shows as the next version,
    numbered as it will be once kept; reading keeps nothing, and the next
    change virtdeck makes records it for real under that number.
    """
    if handle is None or (versions and xml_digest(versions[-1].xml) == xml_digest(xml)):
        return versions
    if versions and versions[-1].deleted:
        return versions
    return [
        *versions,
        Version(
            version=versions[-1].version + 1 if versions else 1,
            action="external",
            xml=xml,
            deleted=False,
            created_at=datetime.now(UTC),
            uuid=handle.uuid,
            name=handle.name,
        ),
    ]


class HistoryService:
    def __init__(self, ctx: HostContext, defs: Definitions) -> None:
        self.ctx = ctx
        self.defs = defs
        self.host = ctx.host

    def _holder(self, uuid: str, handle: DomainHandle | None) -> _Holder:
        versions = self.ctx.history.versions_of(self.ctx.host_id, uuid)
        if handle is not None and handle.is_persistent():
            versions = _with_current(versions, handle, self.defs.inactive_xml(handle))
        return _Holder(uuid, versions, handle)

    def _holders(self, name: str) -> list[_Holder]:
        """Every VM that has had ``name`` here: the one that has it now first."""
        holders = []
        current = self.defs.lookup(name) if domains.exists(self.host, name) else None
        uuids = self.ctx.history.uuids_named(self.ctx.host_id, name)
        if current is not None and current.uuid not in uuids:
            uuids.insert(0, current.uuid)
        for uuid in uuids:
            dom = current if current is not None and current.uuid == uuid else None
            holders.append(self._holder(uuid, dom or domains.by_uuid(self.host, uuid)))
        holders = [h for h in holders if h.versions]
        if not holders:
            raise NotFound(
                f"virtdeck has no history for a VM named {name!r} on {self.host.uri}; "
                "history starts when virtdeck first sees or changes a VM",
                hint=Hint("vm.list"),
            )
        # Stable: the others stay in the order they last had the name, newest first.
        holders.sort(key=lambda h: not h.has(name))
        return holders

    def _by_uuid(self, name: str, holders: list[_Holder], given: str) -> _Holder:
        wanted = given.strip().lower().replace("-", "")
        if not re.fullmatch(r"[0-9a-f]{1,32}", wanted):
            raise InvalidInput(
                f"{opt('uuid')} {given!r} is not a UUID; give one, or its first "
                f"{MIN_UUID_PREFIX} or more hex digits",
                field="uuid",
            )
        if len(wanted) < MIN_UUID_PREFIX:
            raise InvalidInput(
                f"{opt('uuid')} {given!r} is too short to pick a VM; give at least "
                f"{MIN_UUID_PREFIX} hex digits of its UUID",
                field="uuid",
            )
        found = [h for h in holders if h.uuid.replace("-", "").startswith(wanted)]
        if not found:
            raise NotFound(
                f"no VM with UUID {given} has had the name {name} on {self.host.uri}; "
                f"these have: {_listing(name, holders)}",
                field="uuid",
            )
        if len(found) > 1:
            raise InvalidInput(
                f"{opt('uuid')} {given} fits {len(found)} VMs that had the name {name}: "
                f"{_listing(name, found)}; give more of the UUID",
                field="uuid",
            )
        return found[0]

    def _choose(
        self, name: str, holders: list[_Holder], uuid: str | None, current_wins: bool
    ) -> _Holder:
        """The one VM meant: by ``uuid``, the only one, or (``current_wins``) the current one."""
        if uuid is not None:
            return self._by_uuid(name, holders, uuid)
        if len(holders) == 1 or (current_wins and holders[0].has(name)):
            return holders[0]
        raise InvalidInput(
            f"the name {name} is ambiguous: {len(holders)} VMs have had it on "
            f"{self.host.uri}, each with versions of its own: {_listing(name, holders)}; "
            f"pick one with {opt('uuid')}",
            field="uuid",
        )

    def vm_histories(self, name: str, uuid: str | None = None) -> list[VmHistory]:
        """Every VM that has had ``name`` (or the one ``uuid`` picks), with all its versions."""
        holders = self._holders(name)
        if uuid is not None:
            holders = [self._by_uuid(name, holders, uuid)]
        found = []
        for h in holders:
            first, last = h.seen(name)
            found.append(
                VmHistory(
                    name=name,
                    uuid=h.uuid,
                    exists=h.dom is not None,
                    current=h.has(name),
                    current_name=h.current_name,
                    first_seen=first,
                    last_seen=last,
                    deleted_at=h.deleted_at,
                    versions=_entries(h.versions),
                )
            )
        return found

    def vm_history(self, name: str, uuid: str | None = None) -> list[HistoryEntry]:
        """The versions of one VM that had ``name``: by ``uuid``, the only one, or the current."""
        return _entries(self._choose(name, self._holders(name), uuid, current_wins=True).versions)

    def vm_history_xml(self, name: str, version: int, uuid: str | None = None) -> str:
        # Version numbers are per VM: with several, which one's is never guessed.
        holder = self._choose(name, self._holders(name), uuid, current_wins=False)
        return self._pick(holder.versions, version).xml

    @staticmethod
    def _pick(versions: list[Version], number: int) -> Version:
        for v in versions:
            if v.version == number:
                return v
        known = ", ".join(str(v.version) for v in versions)
        raise InvalidInput(f"there is no version {number}; versions are {known}", field="version")

    def _restore_target(self, name: str, holders: list[_Holder], uuid: str | None) -> _Holder:
        if uuid is not None or len(holders) == 1 or holders[0].has(name):
            return self._choose(name, holders, uuid, current_wins=True)
        example = next((h for h in holders if h.dom is None), holders[0])
        raise InvalidInput(
            f"no VM has the name {name} now, and {len(holders)} have had it: "
            f"{_listing(name, holders)}; pick one with {opt('uuid')}",
            field="uuid",
            hint=Hint("vm.restore", vm=name, args={"uuid": example.uuid}),
        )

    def vm_restore(
        self, name: str, version: int | None = None, uuid: str | None = None
    ) -> RestoreResult:
        with self.ctx.lock_name(name, "restore"), contextlib.ExitStack() as held:
            holder = self._restore_target(name, self._holders(name), uuid)
            if holder.dom is not None:
                # An existing VM: undo its last change, under the name it has now.
                target = str(holder.current_name)
                if version is not None:
                    chosen = self._pick(holder.versions, version)
                elif len(holder.versions) >= 2:
                    chosen = holder.versions[-2]
                else:
                    raise InvalidInput(f"VM {target} has only one version; nothing to go back to")
            else:
                # A deleted VM comes back as it was (when it was deleted), under its UUID.
                chosen = (
                    holder.versions[-1] if version is None else self._pick(holder.versions, version)
                )
                target = chosen.name
            if target != name:
                held.enter_context(self.ctx.lock_name(target, "restore"))
            if holder.dom is not None:
                held.enter_context(self.ctx.lock_vm(holder.dom, "restore"))
            return self._restore(holder, chosen, target)

    def _restore(self, holder: _Holder, chosen: Version, target: str) -> RestoreResult:
        xml = chosen.xml
        notes: list[str] = []
        if holder.dom is None and domains.exists(self.host, target):
            other = self.defs.lookup(target).uuid
            raise Conflict(
                f"VM {target} (UUID {other}) has the name now, so the deleted VM "
                f"{holder.uuid} cannot come back under it; rename or delete VM {target} first"
            )
        if holder.dom is not None and chosen.name != target:
            # libvirt renames only with 'rename'; a restore keeps the VM's name.
            xml = _renamed(xml, chosen.name, target)
            notes.append(
                f"version {chosen.version} named it {chosen.name}; it keeps its name {target} "
                f"('virtdeck vm rename {target} {chosen.name}' gives it that name again)"
            )
        self.defs.redefine(xml, f"restore-v{chosen.version}")
        present: list[str] = []
        missing: list[str] = []
        for disk in Domain.from_xml(xml).disks:
            if disk.path is None:
                continue
            (present if Path(disk.path).exists() else missing).append(disk.path)
        running = holder.dom is not None and holder.dom.is_active()
        return RestoreResult(
            name=target,
            uuid=holder.uuid,
            version=chosen.version,
            was_deleted=holder.dom is None,
            running=running,
            disks_present=present,
            disks_missing=missing,
            notes=notes,
        )
