"""The API and the remote CLI end to end on the real host; the guest confirms.

``virtdeck serve`` runs on qemu:///system; one VM goes through the REST API
with a token (create as a linked clone of the appliance, start, a vCPU
hot-added, stop, delete), another through the remote CLI
(``--server``/``--token``), whose ``vm show`` must print what the local
CLI prints, character for character.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import run_virtdeck
from tests.integration.api_server import Served, served
from tests.integration.conftest import (
    APPLIANCE,
    IsolatedNet,
    appliance_request,
    env_for_cli,
    fresh_vm_name,
    made_file,
    virtdeck,
)
from tests.integration.guest import wait_for, wait_ready
from virtdeck.engine import Engine
from virtdeck.settings import Settings

pytestmark = pytest.mark.slow

BOOT = 180.0


@pytest.fixture
def other_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    yield from fresh_vm_name(engine, pool_dir)


@pytest.fixture
def api(engine: Engine, settings: Settings) -> Iterator[Served]:
    with served(engine, settings) as server:
        yield server


def test_one_vm_through_the_api_and_the_guest_sees_it(
    engine: Engine, api: Served, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    request = appliance_request(vm_name, test_net, start=False)
    with api.client(timeout=BOOT + 30) as client:
        created = client.post(
            "/api/v1/vms", json=request.model_dump(mode="json", exclude_unset=True)
        )
        assert created.status_code == 202, created.text
        location = created.headers["Location"]
        done = client.get(location, params={"wait": BOOT})
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "succeeded", done.json()
        # A linked clone: a disk of its own on top of the appliance image.
        disk = made_file(pool_dir, vm_name, "vda")
        shown = client.get(f"/api/v1/vms/{vm_name}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["state"] == "shut off"
        assert [d["path"] for d in shown.json()["disks"]] == [str(disk)]

        started = client.post(f"/api/v1/vms/{vm_name}/start")
        assert started.status_code == 200, started.text
        assert started.json()["state"] == "running"
        assert wait_ready(engine, vm_name, timeout=BOOT).cpus == 1

        # A vCPU hot-added through the API; the guest brings it online and says so.
        more = client.put(f"/api/v1/vms/{vm_name}/cpus", json={"count": 2, "live": True})
        assert more.status_code == 200, more.text
        assert wait_for(engine, vm_name, lambda s: s.cpus == 2, timeout=BOOT).word == "changed"
        assert client.get(f"/api/v1/vms/{vm_name}").json()["vcpus"] == 2

        stopped = client.post(f"/api/v1/vms/{vm_name}/stop", json={"timeout": 90})
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["how"] == "shutdown", stopped.json()
        assert "virtdeck-appliance power-button" in engine.read_log(vm_name)

        deleted = client.delete(f"/api/v1/vms/{vm_name}")
        assert deleted.status_code == 200, deleted.text
        assert str(disk) in deleted.json()["removed_disks"]
        assert client.get(f"/api/v1/vms/{vm_name}").status_code == 404
    assert not disk.exists()
    assert APPLIANCE.is_file(), "the base image went with the clone"


def test_remote_cli_drives_a_vm_and_shows_what_the_local_cli_shows(
    engine: Engine,
    settings: Settings,
    api: Served,
    test_net: IsolatedNet,
    other_name: str,
    pool_dir: Path,
    tmp_path: Path,
) -> None:
    name = other_name
    # No local data and no stored login: everything comes from the server.
    env = {
        **env_for_cli(settings),
        "VIRTDECK_DATA_DIR": str(tmp_path / "nowhere"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }

    def remote(*args: str) -> tuple[int, str, str]:
        done = run_virtdeck(
            "--server", api.url, "--token", api.token, *args, env=env, timeout=BOOT + 30
        )
        return done.returncode, done.stdout, done.stderr

    create = ("vm", "create", name, "--image", str(APPLIANCE), "--memory", "256M")
    code, out, err = remote(
        *create, "--max-cpus", "3", "--network", test_net.name, "--graphics", "none"
    )
    assert code == 0, err
    code, out, err = remote("vm", "start", name)
    assert (code, err) == (0, ""), err
    assert wait_ready(engine, name, timeout=BOOT).cpus == 1

    here = virtdeck(settings, "vm", "show", name)
    code, out, err = remote("vm", "show", name)
    assert here.returncode == code == 0, (here.stderr, err)
    assert (out, err) == (here.stdout, here.stderr)
    assert name in out

    code, out, err = remote("vm", "set-cpus", name, "2", "--live")
    assert code == 0, err
    assert wait_for(engine, name, lambda s: s.cpus == 2, timeout=BOOT).word == "changed"

    code, out, err = remote("vm", "stop", name, "--force")
    assert (code, out.strip()) == (0, f"VM {name} powered off"), err
    here = virtdeck(settings, "vm", "show", name)
    code, out, err = remote("vm", "show", name)
    assert (code, out, err) == (here.returncode, here.stdout, here.stderr)

    disk = made_file(pool_dir, name, "vda")
    code, out, err = remote("vm", "delete", name)
    assert code == 0, err
    assert out.splitlines()[0] == f"Deleted VM {name}"
    assert f"removed disk {disk}" in out
    assert not disk.exists()
    assert name not in {v.name for v in engine.list_vms()}
