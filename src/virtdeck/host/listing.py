"""Every domain of a host in a few bulk calls: what ``vm list`` shows.

Kept apart from ``domains`` so that the CLI's quick listing (cli/fast_list.py)
loads neither the XML model nor anything else a listing does not need: this
module imports only libvirt, the connection and the domain handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libvirt

from .connection import Host
from .handle import ACTIVE_STATES, DomainHandle, DomainStateName, state_name


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


# One call returns the state, vCPU counts and balloon of every domain; NOWAIT
# skips what a domain busy with a job (a migration) cannot answer at once.
_LIST_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
)


_WANTED = frozenset(
    ("state.state", "vcpu.current", "vcpu.maximum", "balloon.current", "balloon.maximum")
)


def _all_stats(conn: Any) -> list[tuple[Any, dict[str, Any]]]:
    try:
        records = conn.getAllDomainStats(
            _LIST_STATS, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
        )
        return list(records)
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
    uuid: str,
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
    if not stats.keys() >= _WANTED:
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
        uuid=uuid,
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
    up only for running domains. The two sets asked for are the ones that are
    usually small (transient, autostarted domains), so that 1,000 VMs are not
    sent three times over.
    """

    def uuids(conn: Any, flag: int) -> set[str]:
        return {d.UUIDString() for d in conn.listAllDomains(flag)}

    def read(conn: Any) -> list[DomainState]:
        transient = uuids(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
        autostart = uuids(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
        states = []
        for dom, stats in _all_stats(conn):
            uuid = dom.UUIDString()
            try:
                states.append(
                    _summarise(
                        host,
                        dom,
                        uuid,
                        stats,
                        uuid not in transient,
                        uuid in autostart,
                        with_addresses,
                    )
                )
            except libvirt.libvirtError as exc:
                # A VM undefined while we listed it is simply gone.
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return sorted(states, key=lambda s: s.name)

    return host.call("list VMs", read)
