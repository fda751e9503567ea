"""The fast VM listing (bulk stats, no XML per VM) agrees with reading each VM in full.

Lives with the console tests because the same engineer owns bench/vm_list.py,
which this listing is tuned for.
"""

from __future__ import annotations

import sys
from pathlib import Path

import libvirt

from virtdeck.engine import Engine
from virtdeck.host import domains
from virtdeck.host.handle import DomainHandle
from virtdeck.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import vm_list


def test_list_matches_full_description(tmp_path: Path) -> None:
    node = tmp_path / "node.xml"
    node.write_text(vm_list.node_xml(30))
    engine = Engine(
        Settings(uri=f"test://{node}", data_dir=tmp_path / "data", allowed_dirs=[tmp_path])
    )
    try:
        conn = engine.host.conn
        conn.lookupByName("bench0004").setAutostart(1)
        conn.lookupByName("bench0007").setMemoryFlags(131072, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        conn.createXML(
            "<domain type='test'><name>transient</name><memory>65536</memory>"
            "<vcpu>2</vcpu><os><type>hvm</type></os></domain>"
        )
        fast = domains.list_states(engine.host, with_addresses=True)
        slow = sorted(
            (
                domains.describe(DomainHandle.of(engine.host, d), with_addresses=True)
                for d in conn.listAllDomains(0)
            ),
            key=lambda s: s.name,
        )
        for state in slow:
            state.xml = ""
        assert fast == slow
        listed = {vm.name: vm for vm in engine.list_vms()}
    finally:
        engine.close()
    assert len(listed) == 31
    assert listed["bench0000"].state == "shut off" and not listed["bench0000"].addresses
    assert listed["bench0004"].autostart and listed["bench0004"].max_vcpus == 1
    assert listed["bench0007"].memory_kib == 131072
    assert listed["bench0007"].max_memory_kib == 524288
    assert listed["transient"].persistent is False and listed["transient"].state == "running"
    assert listed["bench0006"].persistent is True
    assert listed["bench0002"].vcpus == 1 and listed["bench0002"].max_vcpus == 3
