"""Domains on one host: look up, define, start, stop, read state and addresses."""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from typing import Any

import libvirt

from virtdeck.errors import Conflict, InvalidInput, NotFound, Timeout, VirtdeckError
from virtdeck.model import Domain, InvalidName, check_lookup_name, quote

from . import disk_users
from .connection import Host, translate

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "idle",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "in shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}
ACTIVE_STATES = {"running", "idle", "paused", "in shutdown", "pmsuspended"}


@dataclass
class DomainState:
    name: str
    uuid: str
    state: str
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


def checked_name(name: str) -> str:
    """``name`` if it can name a VM at all; InvalidInput before libvirt sees it."""
    try:
        return check_lookup_name(name)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from None


def lookup(host: Host, name: str) -> Any:
    """The virDomain called ``name``; NotFound names the closest matches."""
    checked_name(name)
    try:
        return host.conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise translate(exc, f"look up VM {name}") from exc
    names = host.call("list VMs", lambda c: [d.name() for d in c.listAllDomains(0)])
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; 'virtdeck vm list' shows them"
    raise NotFound(f"no VM named {quote(name)} on {host.uri}{hint}")


def exists(host: Host, name: str) -> bool:
    checked_name(name)
    try:
        host.conn.lookupByName(name)
        return True
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise translate(exc, f"look up VM {name}") from exc


def by_uuid(host: Host, uuid: str) -> Any | None:
    """The domain with this UUID, or None when there is none."""
    try:
        return host.conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise translate(exc, f"look up the VM with UUID {uuid}") from exc


def state_of(dom: Any) -> str:
    code = dom.state(0)[0]
    return STATE_NAMES.get(code, "unknown")


def addresses(dom: Any) -> list[str]:
    """IPv4/IPv6 addresses the host knows of (DHCP leases, then ARP)."""
    found: list[str] = []
    for source in (
        libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
        libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
    ):
        try:
            ifaces = dom.interfaceAddresses(source, 0) or {}
        except libvirt.libvirtError:
            continue
        for iface in ifaces.values():
            for addr in iface.get("addrs") or []:
                if addr.get("addr") and addr["addr"] not in found:
                    found.append(addr["addr"])
        if found:
            break
    return found


def describe(dom: Any, with_addresses: bool = True) -> DomainState:
    xml = dom.XMLDesc(0)
    model = Domain.from_xml(xml)
    state = state_of(dom)
    active = state in ACTIVE_STATES
    if active:
        info = dom.info()
        memory_now, vcpus_now = int(info[2]), int(info[3])
    else:
        memory_now = model.memory_current_kib or 0
        vcpus_now = model.vcpus or 0
    return DomainState(
        name=dom.name(),
        uuid=dom.UUIDString(),
        state=state,
        vcpus=vcpus_now,
        max_vcpus=model.max_vcpus or vcpus_now,
        memory_kib=memory_now,
        max_memory_kib=model.memory_kib or memory_now,
        autostart=bool(dom.autostart()) if dom.isPersistent() else False,
        persistent=bool(dom.isPersistent()),
        addresses=addresses(dom) if active and with_addresses else [],
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
    dom: Any, stats: dict[str, Any], persistent: bool, autostart: bool, with_addresses: bool
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
    state = STATE_NAMES.get(int(stats["state.state"]), "unknown")
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
        addresses=addresses(dom) if active and with_addresses else [],
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
                    _summarise(dom, stats, uuid in persistent, uuid in autostart, with_addresses)
                )
            except libvirt.libvirtError as exc:
                # A VM undefined while we listed it is simply gone.
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return sorted(states, key=lambda s: s.name)

    return host.call("list VMs", read)


def define(host: Host, xml: str, action: str, validate: bool = False) -> Any:
    flags = libvirt.VIR_DOMAIN_DEFINE_VALIDATE if validate else 0
    return host.call(action, lambda c: c.defineXMLFlags(xml, flags), retry=False)


def start(host: Host, name: str) -> None:
    dom = lookup(host, name)
    if state_of(dom) in ACTIVE_STATES:
        raise Conflict(f"VM {name} is already running; 'virtdeck vm stop {name}' stops it")
    # Every start comes here (start, create --start, apply): none may write
    # under another VM's overlay.
    disk_users.refuse_start_over_others(host, dom.XMLDesc(0), dom.UUIDString())
    try:
        dom.create()
    except libvirt.libvirtError as exc:
        raise translate(exc, f"start VM {name}") from exc


def stop(host: Host, name: str, timeout: float, force: bool) -> str:
    """ACPI shutdown, waiting up to ``timeout``; ``force`` powers off at once.

    Returns how it stopped: 'shutdown' or 'destroyed'.
    """
    dom = lookup(host, name)
    if state_of(dom) not in ACTIVE_STATES:
        raise Conflict(f"VM {name} is not running")
    try:
        if force:
            dom.destroy()
            return "destroyed"
        dom.shutdown()
    except libvirt.libvirtError as exc:
        raise translate(exc, f"stop VM {name}") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if state_of(dom) not in ACTIVE_STATES:
                return "shutdown"
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:  # transient VM
                return "shutdown"
            raise translate(exc, f"stop VM {name}") from exc
        time.sleep(0.25)
    raise Timeout(
        f"VM {name} did not shut down within {timeout:g} s (the guest ignored the ACPI "
        f"power button); use 'virtdeck vm stop {name} --force' to power it off"
    )


def undefine(host: Host, name: str) -> None:
    dom = lookup(host, name)
    flags = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    )
    try:
        if state_of(dom) in ACTIVE_STATES:
            dom.destroy()
        dom.undefineFlags(flags)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
            try:
                dom.undefine()
                return
            except libvirt.libvirtError as again:
                raise translate(again, f"delete VM {name}") from again
        raise translate(exc, f"delete VM {name}") from exc


def wait_state(host: Host, name: str, wanted: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            current = state_of(lookup(host, name))
        except VirtdeckError:
            raise
        if current in wanted:
            return current
        if time.monotonic() > deadline:
            raise Timeout(
                f"VM {name} is {current}, not {'/'.join(sorted(wanted))}, after {timeout:g} s"
            )
        time.sleep(0.2)
