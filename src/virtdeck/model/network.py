"""The ``<network>`` element: a libvirt virtual network (NAT, routed, isolated, bridge)."""

from __future__ import annotations

import ipaddress

from .text import quote
from .xmlbase import Children, InvalidElement, LazyChild, XmlElement, integer, text

FORWARD_MODES = ("nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev")
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DhcpRange(XmlElement):
    TAG = "range"
    start = text("./@start")
    end = text("./@end")


class DhcpHost(XmlElement):
    """A fixed address for one guest, by MAC."""

    TAG = "host"
    mac = text("./@mac")
    name = text("./@name")
    ip = text("./@ip")


class Dhcp(XmlElement):
    TAG = "dhcp"
    CHILD_ORDER = ("range", "host", "bootp")
    ranges = Children(DhcpRange)
    hosts = Children(DhcpHost)


class NetworkIp(XmlElement):
    """One address of the host on the network, with the DHCP it serves there."""

    TAG = "ip"
    CHILD_ORDER = ("tftp", "dhcp")
    family = text("./@family")
    address = text("./@address")
    netmask = text("./@netmask")
    prefix = integer("./@prefix")
    dhcp = LazyChild(Dhcp)

    def add_dhcp_range(self, start: str, end: str) -> DhcpRange:
        dhcp_range = DhcpRange()
        dhcp_range.start = start
        dhcp_range.end = end
        return self.dhcp.add_child(dhcp_range)

    def network(self) -> IpNetwork:
        """The subnet this address is in; InvalidElement when address or mask is bad."""
        if self.address is None:
            raise InvalidElement(self.TAG, "has no address; set address (192.168.122.1)")
        if self.netmask is not None and self.prefix is not None:
            raise InvalidElement(self.TAG, "has both netmask and prefix; keep one of them")
        mask = self.netmask if self.netmask is not None else self.prefix
        spec = self.address if mask is None else f"{self.address}/{mask}"
        try:
            return ipaddress.ip_interface(spec).network
        except ValueError:
            raise InvalidElement(
                self.TAG,
                f"address {quote(self.address)} with mask {quote(mask)} is not an IP address "
                "and netmask; write them like 192.168.122.1 and 24 (or 255.255.255.0)",
            ) from None

    def validate(self) -> None:
        subnet = self.network()
        for dhcp_range in self.dhcp.ranges:
            ends = []
            for end in (dhcp_range.start, dhcp_range.end):
                try:
                    ends.append(ipaddress.ip_address(end or ""))
                except ValueError:
                    raise InvalidElement(
                        "range", f"end {quote(end)} is not an IP address; write one like 10.0.0.2"
                    ) from None
            first, last = ends
            if first not in subnet or last not in subnet:
                raise InvalidElement(
                    "range",
                    f"{first}-{last} is not inside {subnet}; choose addresses of that network",
                )
            if int(first) > int(last):
                raise InvalidElement("range", f"{first}-{last} ends before it starts; swap them")


class Network(XmlElement):
    TAG = "network"
    CHILD_ORDER = (
        "name",
        "uuid",
        "title",
        "description",
        "metadata",
        "forward",
        "bridge",
        "mtu",
        "mac",
        "domain",
        "dns",
        "vlan",
        "bandwidth",
        "portOptions",
        "ip",
        "route",
        "portgroup",
    )
    name = text("./name")
    uuid = text("./uuid")
    forward_mode = text("./forward/@mode")
    bridge_name = text("./bridge/@name")
    mac = text("./mac/@address")
    domain_name = text("./domain/@name")
    ips = Children(NetworkIp)

    @classmethod
    def new(
        cls, name: str, forward_mode: str | None = "nat", bridge_name: str | None = None
    ) -> Network:
        """A network; ``forward_mode`` None makes it isolated (no way out)."""
        network = cls()
        network.name = name
        network.forward_mode = forward_mode
        network.bridge_name = bridge_name
        return network

    def add_ip(
        self, address: str, prefix: int | None = None, netmask: str | None = None
    ) -> NetworkIp:
        ip = NetworkIp()
        ip.address = address
        ip.netmask = netmask
        ip.prefix = prefix
        return self.add_child(ip)

    def validate(self) -> None:
        if not self.name:
            raise InvalidElement(self.TAG, "has no name; set name")
        if self.forward_mode not in (None, *FORWARD_MODES):
            raise InvalidElement(
                self.TAG,
                f"{quote(self.name)} has forward mode {quote(self.forward_mode)}; "
                f"use {', '.join(FORWARD_MODES)}",
            )
        for ip in self.ips:
            ip.validate()
