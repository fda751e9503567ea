"""A typed handle on one VM of one host: the only way the engine touches a domain.

A ``DomainHandle`` is (host, UUID). It holds no ``virDomain`` that outlives
a connection: each call looks the domain up on the host's live connection
(once per connection, then cached), so a call that ``Host.call`` retries
after libvirtd restarted runs against the new connection instead of a
handle of the dead one. Every libvirt error leaves as a ``VirtdeckError``;
states are ``DomainStateName`` strings, never libvirt's integers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import libvirt

from virtdeck.errors import NotFound

from .connection import Host

T = TypeVar("T")

DomainStateName = Literal[
    "no state",
    "running",
    "idle",
    "paused",
    "in shutdown",
    "shut off",
    "crashed",
    "pmsuspended",
    "unknown",
]

STATE_NAMES: dict[int, DomainStateName] = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "idle",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "in shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}
ACTIVE_STATES: frozenset[DomainStateName] = frozenset(
    {"running", "idle", "paused", "in shutdown", "pmsuspended"}
)

_LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE


def state_name(code: int) -> DomainStateName:
    return STATE_NAMES.get(int(code), "unknown")


@dataclass(frozen=True)
class DomainInfo:
    """What ``virDomainGetInfo`` says: state, memory (KiB) and vCPUs now."""

    state: DomainStateName
    max_memory_kib: int
    memory_kib: int
    vcpus: int


class DomainHandle:
    """One VM on one host, by UUID; ``name`` is the name it had when last seen."""

    def __init__(self, host: Host, uuid: str, name: str, dom: Any = None) -> None:
        self.host = host
        self.uuid = uuid
        self.name = name
        # The virDomain of the connection it came from, reused while that
        # connection is the host's live one.
        self._cached: tuple[Any, Any] | None = None
        if dom is not None:
            self._cached = (host.current_conn(), dom)

    @classmethod
    def of(cls, host: Host, dom: Any) -> DomainHandle:
        """The handle of a ``virDomain`` that ``host`` returned (for host/ modules only)."""
        return cls(host, str(dom.UUIDString()), str(dom.name()), dom)

    def __repr__(self) -> str:
        return f"DomainHandle({self.name!r}, {self.uuid})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DomainHandle) and (other.host, other.uuid) == (
            self.host,
            self.uuid,
        )

    def __hash__(self) -> int:
        return hash((id(self.host), self.uuid))

    # -- the one way to reach the virDomain -------------------------------------
    def virdomain(self, conn: Any) -> Any:
        """The ``virDomain`` on ``conn`` (for host/ modules that need it for a stream)."""
        if self._cached is not None and self._cached[0] is conn:
            return self._cached[1]
        try:
            dom = conn.lookupByUUIDString(self.uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise NotFound(
                    f"VM {self.name} (UUID {self.uuid}) no longer exists on {self.host.uri}"
                ) from None
            raise
        self._cached = (conn, dom)
        return dom

    def call(self, action: str, fn: Callable[[Any], T], retry: bool = True) -> T:
        """``fn(virDomain)`` on the live connection; a retry looks the domain up again."""
        return self.host.call(action, lambda conn: fn(self.virdomain(conn)), retry)

    # -- reading --------------------------------------------------------------
    def current_name(self) -> str:
        """The name libvirt has for this UUID now (a rename elsewhere changes it).

        Asked of libvirtd through a fresh lookup: a virDomain keeps the name it
        was made with, so the cached one would not see a rename.
        """
        self._cached = None
        return str(self.call(f"read VM {self.name}", lambda d: d.name()))

    def state(self) -> DomainStateName:
        return state_name(self.call(f"read the state of VM {self.name}", lambda d: d.state(0)[0]))

    def is_active(self) -> bool:
        return self.state() in ACTIVE_STATES

    def is_persistent(self) -> bool:
        return bool(self.call(f"read VM {self.name}", lambda d: d.isPersistent()))

    def autostart(self) -> bool:
        return bool(self.call(f"read the autostart of VM {self.name}", lambda d: d.autostart()))

    def info(self) -> DomainInfo:
        state, max_mem, mem, vcpus, _cpu_time = self.call(
            f"read VM {self.name}", lambda d: d.info()
        )
        return DomainInfo(state_name(state), int(max_mem), int(mem), int(vcpus))

    def max_vcpus(self) -> int:
        return int(
            self.call(
                f"read the vCPU maximum of VM {self.name}",
                lambda d: d.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM),
            )
        )

    def xml(self, inactive: bool = False, secure: bool = False) -> str:
        """The running definition, or with ``inactive`` the persistent one (next start's)."""
        flags = (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0) | (
            libvirt.VIR_DOMAIN_XML_SECURE if secure else 0
        )
        return str(self.call(f"read the definition of VM {self.name}", lambda d: d.XMLDesc(flags)))

    def addresses(self) -> list[str]:
        """IPv4/IPv6 addresses the host knows of (DHCP leases, then ARP)."""
        found: list[str] = []
        for source in (
            libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
            libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
        ):
            try:
                ifaces = self.virdomain(self.host.conn).interfaceAddresses(source, 0) or {}
            except libvirt.libvirtError:
                continue
            for iface in ifaces.values():
                for addr in iface.get("addrs") or []:
                    if addr.get("addr") and addr["addr"] not in found:
                        found.append(addr["addr"])
            if found:
                break
        return found

    # -- changing: none of these is repeated after a reconnect ----------------
    def _do(self, action: str, fn: Callable[[Any], object]) -> None:
        self.call(action, fn, retry=False)

    def start(self) -> None:
        self._do(f"start VM {self.name}", lambda d: d.create())

    def shutdown(self) -> None:
        self._do(f"stop VM {self.name}", lambda d: d.shutdown())

    def destroy(self) -> None:
        self._do(f"stop VM {self.name}", lambda d: d.destroy())

    def reset(self) -> None:
        self._do(f"reset VM {self.name}", lambda d: d.reset(0))

    def suspend(self) -> None:
        self._do(f"pause VM {self.name}", lambda d: d.suspend())

    def resume(self) -> None:
        self._do(f"resume VM {self.name}", lambda d: d.resume())

    def set_autostart(self, enabled: bool) -> None:
        value = 1 if enabled else 0
        self._do(f"set autostart of {self.name}", lambda d: d.setAutostart(value))

    def rename(self, new_name: str) -> None:
        self._do(f"rename VM {self.name} to {new_name}", lambda d: d.rename(new_name, 0))
        self.name = new_name

    def set_vcpus_live(self, count: int) -> None:
        self._do(f"add vCPUs to VM {self.name}", lambda d: d.setVcpusFlags(count, _LIVE))

    def set_memory_live(self, kib: int) -> None:
        self._do(f"set the memory of VM {self.name}", lambda d: d.setMemoryFlags(kib, _LIVE))

    def attach_device_live(self, xml: str, action: str) -> None:
        self._do(action, lambda d: d.attachDeviceFlags(xml, _LIVE))

    def detach_device_live(self, xml: str, action: str) -> None:
        self._do(action, lambda d: d.detachDeviceFlags(xml, _LIVE))

    def set_metadata_live(self, xml: str, key: str, namespace: str) -> None:
        """Replace the running domain's element of ``namespace`` in ``<metadata>``."""
        kind = libvirt.VIR_DOMAIN_METADATA_ELEMENT
        self._do(
            f"update the metadata of VM {self.name}",
            lambda d: d.setMetadata(kind, xml, key, namespace, _LIVE),
        )

    def undefine(self) -> None:
        """Remove the definition (powering off first), with its snapshot and NVRAM metadata."""
        everything = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        )
        basic = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        )

        def run(dom: Any) -> None:
            if state_name(dom.state(0)[0]) in ACTIVE_STATES:
                dom.destroy()
            # Drivers that lack some flags (the test driver) refuse the call
            # whole; fewer flags, then none, do what they can.
            for flags in (everything, basic):
                try:
                    dom.undefineFlags(flags)
                    return
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() not in (
                        libvirt.VIR_ERR_NO_SUPPORT,
                        libvirt.VIR_ERR_INVALID_ARG,
                    ):
                        raise
            dom.undefine()

        self.call(f"delete VM {self.name}", run, retry=False)
