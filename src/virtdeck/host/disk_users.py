"""Which VMs use which files: the one check before virtdeck removes or shares a disk.

A file can be in use without being anyone's disk by name: a linked clone
reads its source's disk as a backing file, a VM defined with virsh may
point at a disk virtdeck made for another. So the answer covers every
domain libvirt knows on the host (defined or only running, the running
and the next-boot definition), each disk's whole backing chain, and says
how each VM uses the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt

from virtdeck.errors import Conflict, VirtdeckError, field_named, opt
from virtdeck.model import Domain, quote

from . import storage
from .connection import Host
from .image_headers import backing_chain


@dataclass(frozen=True)
class DiskUse:
    vm: str
    uuid: str
    target: str | None
    # Opened for writing: not read-only, not shareable, not a backing file.
    writable: bool
    # The disk whose backing chain holds the file, when it is not the disk itself.
    backing_of: str | None = None

    def describe(self) -> str:
        if self.backing_of is not None:
            return f"VM {self.vm} reads it as the backing file of {self.backing_of}"
        how = "writes to it" if self.writable else "reads it"
        disk = f" as disk {self.target}" if self.target else ""
        return f"VM {self.vm} {how}{disk}"


Users = dict[str, list[DiskUse]]


def _key(path: str) -> str:
    return os.path.realpath(path)


def _uses_of(xml: str, name: str, uuid: str) -> Iterable[tuple[str, DiskUse]]:
    model = Domain.from_xml(xml)
    for disk in model.disks:
        if not disk.path:
            continue
        shareable = disk.shareable
        writable = not disk.readonly and not shareable and disk.device in (None, "disk", "lun")
        yield _key(disk.path), DiskUse(name, uuid, disk.target, writable)
        for base in backing_chain(Path(disk.path)):
            yield _key(str(base)), DiskUse(name, uuid, disk.target, False, backing_of=disk.path)


def disk_users(host: Host) -> Users:
    """Every file that some domain on the host uses, with how it uses it."""

    def read(conn: Any) -> Users:
        users: Users = {}
        for dom in conn.listAllDomains(0):
            try:
                name, uuid = dom.name(), dom.UUIDString()
                xmls = {dom.XMLDesc(0)}
                if dom.isPersistent() and dom.isActive():
                    xmls.add(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    continue  # undefined while we looked
                raise
            for xml in xmls:
                for path, use in _uses_of(xml, name, uuid):
                    if use not in users.setdefault(path, []):
                        users[path].append(use)
        return users

    return host.call("list the disks of every VM", read)


def users_of(users: Users, path: str | Path, except_uuid: str | None = None) -> list[DiskUse]:
    """The uses of ``path`` by VMs other than ``except_uuid``."""
    return [u for u in users.get(_key(str(path)), []) if u.uuid != except_uuid]


SHOWN_USES = 3


def why_in_use(uses: list[DiskUse]) -> str:
    """Who uses a file, in a sentence that stays short however many VMs do."""
    shown = "; ".join(u.describe() for u in uses[:SHOWN_USES])
    more = len({u.uuid for u in uses[SHOWN_USES:]})
    return shown + (f"; and {more} more VM{'s' if more != 1 else ''}" if more else "")


@dataclass
class Removal:
    removed: list[str] = field(default_factory=list)
    # Every file not removed, with the reason where it is a use.
    kept: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


def remove_unused(host: Host, paths: Iterable[Path], except_uuid: str | None = None) -> Removal:
    """Delete each file that no VM (other than ``except_uuid``) uses; keep and say who does.

    The one way virtdeck removes a disk it made: delete, a failed create,
    crash recovery and disk remove all come here. Which VMs use what is read
    once, after the caller has undefined whatever goes, so a file that only
    the VM being deleted used is removed and one a clone reads is kept.
    """
    result = Removal()
    wanted = list(paths)
    if not wanted:
        return result
    users = disk_users(host)
    for path in wanted:
        uses = users_of(users, path, except_uuid)
        if uses:
            result.kept.append(str(path))
            result.reasons[str(path)] = why_in_use(uses)
            continue
        try:
            if storage.delete_file(host, path):
                result.removed.append(str(path))
        except (OSError, VirtdeckError) as exc:
            result.kept.append(str(path))
            result.reasons[str(path)] = f"cannot remove it: {getattr(exc, 'message', None) or exc}"
    return result


def refuse_if_used(host: Host, path: Path, what: str, hint: str) -> None:
    """Conflict when another VM uses ``path``: a VM about to open it for writing.

    Two writers corrupt a disk, and so does one writer under a reader (a
    VM whose overlay has it as backing file sees its blocks change beneath
    it). libvirt's lock manager (virtlockd) refuses the second QEMU at start;
    this refuses the definition before it is made.
    """
    uses = users_of(disk_users(host), path)
    if uses:
        raise Conflict(
            f"{what} {quote(str(path))} is in use: {why_in_use(uses)}; a disk that one VM "
            f"writes must be no other VM's disk or backing file, so {hint}",
            field=field_named(what),
        )


def refuse_start_over_others(host: Host, xml: str, uuid: str) -> None:
    """Conflict when starting this VM would write to a file another VM depends on.

    A linked clone reads its source's disk as backing file; the source
    running again would write under it and corrupt it (Proxmox and oVirt
    never start a template for that reason). libvirt's lock manager locks
    only the disks themselves, not backing files, so this is the check.
    Another VM that merely has the same disk defined is left to virtlockd:
    it refuses the second QEMU only if both run.
    """
    model = Domain.from_xml(xml)
    users = disk_users(host)
    for disk in model.disks:
        shareable = disk.shareable
        if not disk.path or disk.readonly or shareable:
            continue
        readers = [u for u in users_of(users, disk.path, uuid) if u.backing_of is not None]
        if readers:
            raise Conflict(
                f"VM {model.name} would write to {disk.path}, and {why_in_use(readers)}: "
                "starting it would corrupt that VM's disk; delete that VM, or make its disk "
                f"independent first ('qemu-img rebase -f qcow2 -b \"\" {readers[0].backing_of}' "
                "while it is off)"
            )


def refuse_if_written(host: Host, path: Path, what: str, hint: str) -> None:
    """Conflict when another VM writes ``path``: a VM about to read it as a base.

    An overlay on a file that changes under it shows a disk that no longer
    makes sense, blocks from two different times.
    """
    writers = [u for u in users_of(disk_users(host), path) if u.writable]
    if writers:
        raise Conflict(
            f"{what} {quote(str(path))} is a disk that {why_in_use(writers)}; a base must "
            f"never change under the disks made on it, so {hint}",
            field=field_named(what),
        )


def refuse_delete_under_others(host: Host, vm: str, uuid: str, paths: Iterable[str]) -> None:
    """Conflict when a disk virtdeck made for ``vm`` is used by another VM.

    Deleting the VM would have to leave that disk behind with no VM of its
    own (an orphan nobody removes) or take it from the other VM. As Proxmox
    refuses to delete a template that linked clones use, so does this; with
    keep_disks the VM goes and every disk stays, which is then the user's
    choice.
    """
    users = disk_users(host)
    held = {path: users_of(users, path, uuid) for path in paths}
    held = {path: uses for path, uses in held.items() if uses}
    if held:
        path, uses = next(iter(held.items()))
        others = sorted({u.vm for found in held.values() for u in found})
        raise Conflict(
            f"VM {vm}'s disk {path} is in use: {why_in_use(uses)}; delete "
            f"{', '.join(others)} first, or delete VM {vm} with {opt('keep_disks')} to keep its "
            "disks"
        )
