"""Definitions: the one way a VM's definition is read, changed and kept.

Every change of a definition goes through ``redefine``, which first keeps
the version it replaces in the history (so a change made with ``virsh
edit`` since virtdeck last looked is kept too), checks that the new
definition is the VM it names, defines it, and records the result.
Reading (``lookup``, ``model``) records nothing.
"""

from __future__ import annotations

import uuid as uuidlib

from virtdeck.errors import Conflict, Hint, InvalidInput
from virtdeck.host import domains
from virtdeck.host.handle import DomainHandle
from virtdeck.model import Domain

from .context import HostContext


def canonical_uuid(text: str | None) -> str | None:
    """A ``<uuid>`` as libvirt prints it (lower case, with dashes); None when absent."""
    if text is None or not text.strip():
        return None
    try:
        return str(uuidlib.UUID(text.strip()))
    except ValueError:
        raise InvalidInput(f"<uuid>{text}</uuid> is not a UUID", field="uuid") from None


class Definitions:
    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.host = ctx.host

    # -- reading --------------------------------------------------------------
    def lookup(self, name: str) -> DomainHandle:
        return domains.lookup(self.host, name)

    def inactive_xml(self, handle: DomainHandle) -> str:
        """The persistent definition (what a restart would use)."""
        return handle.xml(inactive=True, secure=True)

    def model(self, name: str) -> tuple[DomainHandle, Domain]:
        """The VM and a model of its persistent definition."""
        handle = self.lookup(name)
        return handle, Domain.from_xml(self.inactive_xml(handle))

    def live_model(self, handle: DomainHandle) -> Domain:
        """The running guest's definition (what QEMU has now)."""
        return Domain.from_xml(handle.xml())

    # -- keeping versions -----------------------------------------------------
    def observe(self, handle: DomainHandle) -> None:
        """Keep the current definition if it changed since virtdeck last saw it.

        Called before virtdeck changes a definition, so an edit made outside
        virtdeck (virsh edit, virt-xml) is kept as its own version.
        """
        if not handle.is_persistent():
            return
        self.record(handle, "external")

    def record(self, handle: DomainHandle, action: str) -> None:
        """Keep the definition as it is now (libvirt changed it: revert, a snapshot)."""
        self.ctx.history.record(
            self.ctx.host_id, handle.uuid, handle.name, self.inactive_xml(handle), action
        )

    def record_deletion(self, handle: DomainHandle) -> None:
        self.ctx.history.record(
            self.ctx.host_id,
            handle.uuid,
            handle.name,
            self.inactive_xml(handle),
            "delete",
            deleted=True,
        )

    # -- changing -------------------------------------------------------------
    def redefine(self, xml: str, action: str, validate: bool = False) -> DomainHandle:
        """Define ``xml`` (a new or changed VM), keeping the version it replaces.

        ``validate`` has libvirt check the XML against its schema first, which
        catches misspelt elements that a plain define would silently drop.
        """
        model = Domain.from_xml(xml)
        holder = None
        if model.name and domains.exists(self.host, model.name):
            holder = self.lookup(model.name)
            self.observe(holder)
        self._check_identity(model, holder)
        handle = domains.define(self.host, xml, f"{action} VM {model.name}", validate)
        self.record(handle, action)
        return handle

    def _check_identity(self, model: Domain, holder: DomainHandle | None) -> None:
        """A definition handed to libvirt is the VM it names, never a different one.

        libvirt takes a definition without ``<uuid>`` for a new VM, and one
        whose UUID another VM has for a rename of that VM; neither is a change
        of the VM that has the name. ``holder`` is the VM that has it now.
        """
        name = model.name
        uuid = canonical_uuid(model.uuid)
        if holder is not None:
            theirs = holder.uuid
            if uuid is None:
                raise InvalidInput(
                    f"the definition of VM {name} has no <uuid>, so libvirt would take it for "
                    f"a new VM; VM {name} keeps its UUID: give <uuid>{theirs}</uuid>",
                    field="uuid",
                )
            if uuid != theirs:
                raise Conflict(
                    f"VM {name} exists with UUID {theirs}, and a definition with UUID {uuid} "
                    f"is another VM; rename or delete VM {name} first",
                    field="uuid",
                )
        if uuid is not None:
            other = domains.by_uuid(self.host, uuid)
            if other is not None and other.name != name:
                raise Conflict(
                    f"UUID {uuid} is VM {other.name}'s, and a definition naming it {name} "
                    "would rename it",
                    field="uuid",
                    hint=Hint("vm.rename", vm=other.name, args={"new_name": str(name)}),
                )
