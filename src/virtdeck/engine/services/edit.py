"""Editing a definition: validate, diff, define, keep the old version.

The CLI opens an editor on ``edit_begin``'s XML and hands the result to
``edit_apply``. Nothing is held locked while a person edits; instead the
definition's digest at the start must still match at the end, so an edit
never silently overwrites a change made meanwhile (by virtdeck or virsh).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator

from virtdeck.errors import Conflict, Hint, InvalidInput, PreconditionFailed
from virtdeck.model import Domain, XmlError

from ..context import HostContext
from ..definitions import Definitions, canonical_uuid
from ..digest import xml_digest
from ..schemas import EditResult, EditSession


class EditService:
    def __init__(self, ctx: HostContext, defs: Definitions) -> None:
        self.ctx = ctx
        self.defs = defs

    def edit_begin(self, name: str) -> EditSession:
        xml = self.defs.inactive_xml(self.defs.lookup(name))
        return EditSession(name=name, xml=xml, digest=xml_digest(xml))

    def digest(self, name: str) -> str:
        """The digest of the VM's definition (its next-boot XML): the API's ETag."""
        return xml_digest(self.defs.inactive_xml(self.defs.lookup(name)))

    @contextlib.contextmanager
    def expecting(self, name: str, digest: str | None, action: str) -> Iterator[None]:
        """Hold the VM's lock for ``action`` and check its digest is still ``digest``.

        The API's If-Match: a change sent against a definition that has
        changed since the client read it changes nothing. The lock is held
        through the block, so the change the caller makes inside it is the
        one checked (the engine's locks are re-entrant within one task).
        ``digest`` None only takes the lock.
        """
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, action):
            if digest is not None:
                now = xml_digest(self.defs.inactive_xml(dom))
                if now != digest:
                    raise PreconditionFailed(
                        f"VM {name} has changed since its definition was read; "
                        "read it again and decide on the new one"
                    )
            yield

    def edit_apply(self, session: EditSession, new_xml: str) -> EditResult:
        try:
            edited = Domain.from_xml(new_xml)
        except XmlError as exc:
            raise InvalidInput(f"the edited XML is not valid: {exc}") from exc
        if edited.name != session.name:
            change = (
                "removes <name>" if edited.name is None else f"changes the name to {edited.name!r}"
            )
            raise InvalidInput(
                f"the edit {change}; a VM keeps its name in an edit: rename it instead",
                hint=Hint("vm.rename", vm=session.name, args={"new_name": "NEW"}),
            )
        edited_uuid = canonical_uuid(edited.uuid)
        dom = self.defs.lookup(session.name)
        with self.ctx.lock_vm(dom, "edit"):
            current = self.defs.inactive_xml(dom)
            if xml_digest(current) != session.digest:
                raise Conflict(
                    f"VM {session.name} was changed by someone else while you edited it; "
                    "run the edit again to start from the new definition"
                )
            uuid = dom.uuid
            if edited_uuid is None:
                raise InvalidInput(
                    f"the edit removes <uuid>; VM {session.name} keeps its UUID: put back "
                    f"<uuid>{uuid}</uuid> (clone it for a new one)"
                )
            if edited_uuid != uuid:
                raise InvalidInput(
                    f"the edit changes the UUID to {edited_uuid}; VM {session.name} keeps its "
                    f"UUID {uuid} (clone it for a new one)"
                )
            if new_xml.strip() == current.strip():
                return EditResult(name=session.name, changed=False, diff="")
            self.defs.redefine(new_xml, "edit", validate=True)
            stored = self.defs.inactive_xml(self.defs.lookup(session.name))
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                stored.splitlines(keepends=True),
                fromfile="before",
                tofile="after",
            )
        )
        return EditResult(name=session.name, changed=bool(diff), diff=diff)
