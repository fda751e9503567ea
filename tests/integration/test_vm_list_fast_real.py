"""The quick local ``vm list`` against the real libvirtd: the same rows as the full CLI.

Three VMs of this test's own: one shut off, one shut off with autostart,
one transient and running (no disk: it idles in its firmware). The quick
path (cli/fast_list.py) and the full CLI (forced by a setting the quick
path leaves to the engine) must print the same lines for them, in the
table and in --json. Only this test's VMs are compared: other tests may
define VMs on the same libvirtd meanwhile.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.conftest import PREFIX, virtdeck
from virtdeck.settings import Settings

FULL_CLI = {"VIRTDECK_DOMAIN_TYPE": "auto"}


def _xml(name: str) -> str:
    return (
        f"<domain type='qemu'><name>{name}</name><memory unit='KiB'>65536</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
    )


@pytest.fixture
def three_vms(conn: libvirt.virConnect) -> Iterator[str]:
    stem = f"{PREFIX}list-{uuid.uuid4().hex[:6]}"
    made: list[libvirt.virDomain] = []
    try:
        made.append(conn.defineXML(_xml(f"{stem}-off")))
        auto = conn.defineXML(_xml(f"{stem}-auto"))
        made.append(auto)
        auto.setAutostart(1)
        made.append(conn.createXML(_xml(f"{stem}-transient"), 0))
        yield stem
    finally:
        for dom in made:
            try:
                if dom.isActive():
                    dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
            except libvirt.libvirtError:
                pass  # already gone: a transient VM goes with its destroy


def test_quick_and_full_list_agree_on_the_real_libvirtd(
    settings: Settings, three_vms: str, tmp_path: Path
) -> None:
    local = {"XDG_CONFIG_HOME": str(tmp_path)}  # no stored login
    full_cli = {**local, **FULL_CLI}
    imports = virtdeck(settings, "vm", "list", env_extra={**local, "PYTHONPROFILEIMPORTTIME": "1"})
    assert "virtdeck.host.listing" in imports.stderr and " typer" not in imports.stderr
    quick = virtdeck(settings, "vm", "list", env_extra=local)
    full = virtdeck(settings, "vm", "list", env_extra=full_cli)
    assert quick.returncode == full.returncode == 0, (quick.stderr, full.stderr)

    def mine(out: str) -> list[str]:
        return [line for line in out.splitlines() if line.startswith(three_vms)]

    assert len(mine(quick.stdout)) == 3
    assert mine(quick.stdout) == mine(full.stdout)

    quick_json = virtdeck(settings, "vm", "list", "--json", env_extra=local)
    full_json = virtdeck(settings, "vm", "list", "--json", env_extra=full_cli)
    assert quick_json.returncode == full_json.returncode == 0

    def mine_json(out: str) -> dict[str, dict[str, object]]:
        return {vm["name"]: vm for vm in json.loads(out) if vm["name"].startswith(three_vms)}

    listed = mine_json(quick_json.stdout)
    assert listed == mine_json(full_json.stdout)
    assert listed[f"{three_vms}-off"]["state"] == "shut off"
    assert listed[f"{three_vms}-auto"]["autostart"] is True
    assert listed[f"{three_vms}-off"]["autostart"] is False
    assert listed[f"{three_vms}-transient"]["persistent"] is False
    assert listed[f"{three_vms}-transient"]["state"] == "running"
    assert listed[f"{three_vms}-off"]["persistent"] is True
