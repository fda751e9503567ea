"""The CLI through the API: the same commands, the same output and exit codes.

Each case runs one command line twice, on the engine in this process and
through the live server (``--server``/``--token``), on VMs of its own in
the same test-driver state, and compares what a user sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli_runner import invoke_cli as invoke_virtdeck
from tests.service.live_server import LiveServer
from tests.service.vms import TEST_URI, own_vm

Run = Callable[..., Result]


@pytest.fixture
def local(tmp_path: Path) -> Run:
    def run(*args: str) -> Result:
        env = {"VIRTDECK_DATA_DIR": str(tmp_path / "local-data")}
        return invoke_virtdeck("-c", TEST_URI, *args, env=env)

    return run


@pytest.fixture
def remote(api: LiveServer, tmp_path: Path) -> Run:
    def run(*args: str) -> Result:
        # No stored login, no local data: everything must come from the server.
        env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "VIRTDECK_DATA_DIR": "/nonexistent"}
        return invoke_virtdeck("--server", api.url, "--token", api.admin_token, *args, env=env)

    return run


def _same(local: Run, remote: Run, *args: str, masks: Sequence[str] = ()) -> Result:
    here, there = local(*args), remote(*args)
    shown_here, shown_there = here.stdout, there.stdout
    for mask in masks:
        shown_here = re.sub(mask, "<masked>", shown_here)
        shown_there = re.sub(mask, "<masked>", shown_there)
    assert (here.exit_code, shown_here, here.stderr) == (
        there.exit_code,
        shown_there,
        there.stderr,
    ), args
    return there


def test_reading_commands_match(local: Run, remote: Run) -> None:
    with own_vm("rcli", start=True) as [name]:
        _same(local, remote, "vm", "show", name)
        _same(local, remote, "vm", "show", name, "--json")
        _same(local, remote, "vm", "dumpxml", name)
        _same(local, remote, "vm", "disk", "list", name)
        _same(local, remote, "vm", "nic", "list", name, "--json")
        _same(local, remote, "vm", "snapshot", "list", name)
        _same(local, remote, "vm", "spec", name)


def test_lifecycle_commands_match(local: Run, remote: Run) -> None:
    with own_vm("rcli", start=True) as [a], own_vm("rcli", start=True) as [b]:
        for verb in ("pause", "resume", "stop"):
            here, there = local("vm", verb, a), remote("vm", verb, b)
            assert here.exit_code == there.exit_code == 0, (here.stdout, there.stderr)
            assert here.stdout.replace(a, "VM") == there.stdout.replace(b, "VM")
        here, there = local("vm", "start", a, "--json"), remote("vm", "start", b, "--json")
        assert json.loads(here.stdout)["state"] == json.loads(there.stdout)["state"] == "running"


def test_errors_match_word_for_word(local: Run, remote: Run) -> None:
    with own_vm("rcli", start=True) as [name]:
        gone = _same(local, remote, "vm", "show", "no-such-vm-here")
        assert gone.exit_code == 2
        busy = _same(local, remote, "vm", "delete", name)
        assert busy.exit_code == 3 and "--force" in busy.stderr
        _same(local, remote, "vm", "resume", name)
        _same(local, remote, "vm", "set-cpus", name, "0")
        _same(local, remote, "--json", "vm", "show", "no-such-vm-here")
        _same(local, remote, "vm", "show", "bad/name")


def test_long_work_waits_the_same(local: Run, remote: Run) -> None:
    with own_vm("rcli") as [a], own_vm("rcli") as [b]:
        here = local("vm", "snapshot", "create", a, "first")
        there = remote("vm", "snapshot", "create", b, "first")
        assert here.exit_code == there.exit_code == 0, there.stderr
        assert here.stdout.replace(a, "VM") == there.stdout.replace(b, "VM")
        again = remote("vm", "snapshot", "create", b, "first")
        assert again.exit_code == 3 and "already has a snapshot" in again.stderr


def test_a_wrong_token_is_one_sentence(api: LiveServer, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = invoke_virtdeck("--server", api.url, "--token", "vdt_wrong", "vm", "list", env=env)
    assert result.exit_code == 9
    assert result.stderr.count("\n") == 1 and "token" in result.stderr
    assert "vdt_wrong" not in result.stderr


def test_an_unreachable_server_is_one_sentence(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = invoke_virtdeck(
        "--server", "http://127.0.0.1:9", "--token", "t", "vm", "list", env=env
    )
    assert result.exit_code == 6
    assert "cannot reach the virtdeck server at http://127.0.0.1:9" in result.stderr


def test_login_stores_a_token_and_commands_go_through_it(api: LiveServer, tmp_path: Path) -> None:
    api.engine.add_user("cliuser", "operator", "cli-user-password")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    logged = invoke_virtdeck(
        "login", api.url, "--user", "cliuser", env=env, input="cli-user-password\n"
    )
    assert logged.exit_code == 0, logged.stderr
    stored = tmp_path / "config" / "virtdeck" / "login.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert json.loads(stored.read_text())["token"].startswith("vdt_")
    with own_vm("login") as [name]:
        shown = invoke_virtdeck("vm", "show", name, "--json", env=env)
        assert shown.exit_code == 0, shown.stderr
        assert json.loads(shown.stdout)["name"] == name
    assert invoke_virtdeck("logout", env=env).exit_code == 0
    assert not stored.exists()
