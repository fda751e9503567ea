"""Domains on one host: look up, define, start, stop, read state and addresses."""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from typing import Any

import libvirt

from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Timeout, opt
from virtdeck.model import Domain, InvalidName, check_lookup_name, quote

from . import disk_users
from .connection import Host, translate
from .handle import ACTIVE_STATES, DomainHandle, DomainStateName, state_name

# Kept here too: callers read a VM's state through this module.
__all__ = ["ACTIVE_STATES", "DomainHandle", "DomainStateName"]


@dataclass
class DomainState:
    name: str
    uuid: str
    state: DomainStateName
    vcpus: int
    max_vcpus: int
    memory_kib: int
    max_memory_kib: int
    autostart: bool
    persistent: bool
    addresses: list[str] = field(default_factory=list)
    xml: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


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


# One call returns the state, vCPU counts and balloon of every domain; NOWAIT
# skips what a domain busy with a job (a migration) cannot answer at once.
_LIST_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
)


def _all_stats(conn: Any) -> list[tuple[Any, dict[str, Any]]]:
    try:
        records = conn.getAllDomainStats(
            _LIST_STATS, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
        )
        return [(dom, dict(stats)) for dom, stats in records]
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (
            libvirt.VIR_ERR_NO_SUPPORT,
            libvirt.VIR_ERR_INVALID_ARG,
            libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
        ):
            raise
    return [(dom, {}) for dom in conn.listAllDomains(0)]


def _summarise(
    host: Host,
    dom: Any,
    stats: dict[str, Any],
    persistent: bool,
    autostart: bool,
    with_addresses: bool,
) -> DomainState:
    """A domain's list row from its bulk stats, asking libvirt only for what they lack.

    Drivers that report only the state (the test driver) cost an info() and
    a vcpusFlags() per domain, still far cheaper than fetching and parsing
    the XML of each.
    """
    wanted = ("state.state", "vcpu.current", "vcpu.maximum", "balloon.current", "balloon.maximum")
    if not all(key in stats for key in wanted):
        code, max_mem, mem, vcpus, _cpu_time = dom.info()
        stats = {
            "state.state": code,
            "vcpu.current": vcpus,
            "vcpu.maximum": dom.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM),
            "balloon.current": mem,
            "balloon.maximum": max_mem,
            **stats,
        }
    state = state_name(int(stats["state.state"]))
    active = state in ACTIVE_STATES
    return DomainState(
        name=dom.name(),
        uuid=dom.UUIDString(),
        state=state,
        vcpus=int(stats["vcpu.current"]),
        max_vcpus=int(stats["vcpu.maximum"]),
        memory_kib=int(stats["balloon.current"]),
        max_memory_kib=int(stats["balloon.maximum"]),
        autostart=autostart,
        persistent=persistent,
        addresses=DomainHandle.of(host, dom).addresses() if active and with_addresses else [],
    )


def list_states(host: Host, with_addresses: bool = True) -> list[DomainState]:
    """Every domain's summary, without reading any domain's XML.

    A handful of calls for the whole host (bulk stats, the persistent and
    autostart sets) rather than several per domain, which matters over a
    remote connection where each call is a round trip. Addresses are looked
    up only for running domains.
    """

    def uuids(conn: Any, flag: int) -> set[str]:
        return {d.UUIDString() for d in conn.listAllDomains(flag)}

    def read(conn: Any) -> list[DomainState]:
        persistent = uuids(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)
        autostart = uuids(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
        states = []
        for dom, stats in _all_stats(conn):
            uuid = dom.UUIDString()
            try:
                states.append(
                    _summarise(
                        host, dom, stats, uuid in persistent, uuid in autostart, with_addresses
                    )
                )
            except libvirt.libvirtError as exc:
                # A VM undefined while we listed it is simply gone.
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return sorted(states, key=lambda s: s.name)

    return host.call("list VMs", read)


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
