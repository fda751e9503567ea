"""libvirt networks on one host: the checks a reference to one must pass."""

from __future__ import annotations

from typing import Any

from virtdeck.errors import Conflict, InvalidInput, NotFound
from virtdeck.model import InvalidName, check_lookup_name, quote

from .connection import Host


def check_network(host: Host, network: str, must_be_active: bool) -> None:
    """NotFound for a network that does not exist; Conflict for a stopped one a VM needs now.

    Checked when a VM is created, a NIC is added or a spec is applied, not
    when the VM first starts: a typo must fail the command that made it.
    """
    try:
        check_lookup_name(network, "network")
    except InvalidName as exc:
        raise InvalidInput(f"{exc}; 'virsh net-list --all' shows the networks") from None

    def lookup(conn: Any) -> Any:
        return conn.networkLookupByName(network)

    try:
        net = host.call(f"look up network {quote(network)}", lookup)
    except NotFound:
        raise NotFound(
            f"no network named {quote(network)} on {host.uri}; 'virsh net-list --all' shows them"
        ) from None
    if must_be_active and not net.isActive():
        raise Conflict(
            f"network {network} is not active; start it with 'virsh net-start {network}'"
        )


def exists(host: Host, network: str) -> bool:
    """Whether a network of that name is defined (running or not)."""

    def names(conn: Any) -> list[str]:
        return list(conn.listNetworks()) + list(conn.listDefinedNetworks())

    return network in host.call("list networks", names)
