"""VMs of a test's own on the test driver, for service tests; removed afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import libvirt

TEST_URI = "test:///default"


def domain_xml(name: str, memory_kib: int = 65536) -> str:
    return f"""<domain type='test'>
  <name>{name}</name>
  <memory unit='KiB'>{memory_kib}</memory>
  <vcpu placement='static' current='1'>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>"""


@contextlib.contextmanager
def own_vm(prefix: str = "svc", start: bool = False, count: int = 1) -> Iterator[list[str]]:
    """``count`` VMs named ``prefix-<random>-N``, defined (and started) on the test driver."""
    conn = libvirt.open(TEST_URI)
    tag = uuid.uuid4().hex[:6]
    names = [f"{prefix}-{tag}-{i:04d}" for i in range(count)]
    uuids = []
    try:
        for name in names:
            dom = conn.defineXML(domain_xml(name))
            uuids.append(dom.UUIDString())
            if start:
                dom.create()
        yield names
    finally:
        for dom in conn.listAllDomains(0):
            if dom.UUIDString() in uuids or dom.name() in names:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        conn.close()
