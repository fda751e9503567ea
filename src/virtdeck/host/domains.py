"""Domains on one host: look up, define, start, stop, read state and addresses."""

from __future__ import annotations

import difflib
import time

import libvirt

from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Timeout, opt
from virtdeck.model import Domain, InvalidName, check_lookup_name, quote

from . import disk_users
from .connection import Host, translate
from .handle import ACTIVE_STATES, DomainHandle, DomainStateName
from .listing import DomainState, list_states

# Kept here too: callers read a VM's state through this module. The listing
# lives in a module of its own, which the CLI's quick 'vm list' loads alone.
__all__ = ["ACTIVE_STATES", "DomainHandle", "DomainState", "DomainStateName", "list_states"]


def checked_name(name: str, field: str = "name") -> str:
    """``name`` if it can name a VM at all; InvalidInput before libvirt sees it.

    Converted here, not left to the engine's boundary: locks and the engine's
    context call this outside the engine's methods too. ``field`` is the
    request field the name came in (``new_name`` for a rename's target).
    """
    try:
        return check_lookup_name(name)
    except InvalidName as exc:
        raise InvalidInput(str(exc), field=field, hint=Hint("vm.list")) from None


def lookup(host: Host, name: str) -> DomainHandle:
    """The VM called ``name``; NotFound names the closest matches."""
    checked_name(name)
    try:
        return DomainHandle.of(host, host.conn.lookupByName(name))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise translate(exc, f"look up VM {name}") from exc
    names = host.call("list VMs", lambda c: [d.name() for d in c.listAllDomains(0)])
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    missing = f"no VM named {quote(name)} on {host.uri}"
    if close:
        raise NotFound(f"{missing}; did you mean {', '.join(close)}?")
    raise NotFound(f"{missing}; the list of VMs shows them", hint=Hint("vm.list"))


def exists(host: Host, name: str) -> bool:
    checked_name(name)
    try:
        host.conn.lookupByName(name)
        return True
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise translate(exc, f"look up VM {name}") from exc


def by_uuid(host: Host, uuid: str) -> DomainHandle | None:
    """The VM with this UUID, or None when there is none."""
    try:
        return DomainHandle.of(host, host.conn.lookupByUUIDString(uuid))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise translate(exc, f"look up the VM with UUID {uuid}") from exc


def describe(handle: DomainHandle, with_addresses: bool = True) -> DomainState:
    xml = handle.xml()
    model = Domain.from_xml(xml)
    state = handle.state()
    active = state in ACTIVE_STATES
    if active:
        info = handle.info()
        memory_now, vcpus_now = info.memory_kib, info.vcpus
    else:
        memory_now = model.memory_current_kib or 0
        vcpus_now = model.vcpus or 0
    persistent = handle.is_persistent()
    return DomainState(
        name=handle.name,
        uuid=handle.uuid,
        state=state,
        vcpus=vcpus_now,
        max_vcpus=model.max_vcpus or vcpus_now,
        memory_kib=memory_now,
        max_memory_kib=model.memory_kib or memory_now,
        autostart=handle.autostart() if persistent else False,
        persistent=persistent,
        addresses=handle.addresses() if active and with_addresses else [],
        xml=xml,
    )


def define(host: Host, xml: str, action: str, validate: bool = False) -> DomainHandle:
    flags = libvirt.VIR_DOMAIN_DEFINE_VALIDATE if validate else 0
    return DomainHandle.of(
        host, host.call(action, lambda c: c.defineXMLFlags(xml, flags), retry=False)
    )


def start(host: Host, name: str) -> None:
    handle = lookup(host, name)
    if handle.is_active():
        raise Conflict(
            f"VM {name} is already running; stop it first to start it afresh",
            hint=Hint("vm.stop", vm=name),
        )
    # Every start comes here (start, create --start, apply): none may write
    # under another VM's overlay.
    disk_users.refuse_start_over_others(host, handle.xml(), handle.uuid)
    handle.start()


def stop(host: Host, name: str, timeout: float, force: bool) -> str:
    """ACPI shutdown, waiting up to ``timeout``; ``force`` powers off at once.

    Returns how it stopped: 'shutdown' or 'destroyed'.
    """
    handle = lookup(host, name)
    if not handle.is_active():
        raise Conflict(f"VM {name} is not running")
    if force:
        handle.destroy()
        return "destroyed"
    handle.shutdown()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not handle.is_active():
                return "shutdown"
        except NotFound:  # a transient VM is gone once it stops
            return "shutdown"
        time.sleep(0.25)
    raise Timeout(
        f"VM {name} did not shut down within {timeout:g} s (the guest ignored the ACPI "
        f"power button); give {opt('force')} to power it off",
        hint=Hint("vm.stop.force", vm=name),
    )


def undefine(host: Host, name: str) -> None:
    lookup(host, name).undefine()
