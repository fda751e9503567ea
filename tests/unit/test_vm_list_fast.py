"""The quick local ``vm list`` (cli/fast_list.py) prints what the full CLI prints.

Each check runs the console script as a user does, once so that the quick
path answers and once with the full CLI forced (a setting the quick path
leaves to the engine, VIRTDECK_DOMAIN_TYPE, with its default value), and
compares stdout, stderr and the exit code byte for byte. Which path ran is
read from Python's own import log: the quick one loads neither Typer nor
Pydantic.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from tests.cli_runner import run_virtdeck, virtdeck_command

from virtdeck.cli import fast_list, remote
from virtdeck.defaults import URI_ENV
from virtdeck.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import vm_list

FULL_CLI = {"VIRTDECK_DOMAIN_TYPE": "auto"}
# A wide character (two columns), an accented one, a plain name: Rich's
# measuring, which the quick path leaves to render.print_table.
UNICODE_NODE = (
    "<node><cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>"
    "<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>"
    "<memory>1073741824</memory>"
    + "".join(
        f"<domain type='test'><name>{name}</name><memory>1048576</memory>"
        "<vcpu>2</vcpu><os><type>hvm</type></os></domain>"
        for name in ("vm-日本", "café", "plain")
    )
    + "</node>"
)


def _env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (URI_ENV, "VIRTDECK_SERVER", "VIRTDECK_TOKEN", "VIRTDECK_DOMAIN_TYPE")
    }
    env["VIRTDECK_DATA_DIR"] = str(tmp / "data")
    env["XDG_CONFIG_HOME"] = str(tmp / "config")  # no stored login
    env.update(extra or {})
    return env


def _imports(*args: str, env: dict[str, str]) -> str:
    done = run_virtdeck(*args, env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    return done.stderr


def _took_fast_path(*args: str, env: dict[str, str]) -> bool:
    log = _imports(*args, env=env)
    assert "virtdeck.host" in log, log[-2000:]
    if " typer" in log:
        return False
    # Rich (and render.py's Pydantic) only for what Rich must measure.
    plain = all(arg.isascii() for arg in args) and "unicode" not in " ".join(args)
    assert not plain or (" pydantic" not in log and " rich" not in log), log
    return True


@pytest.fixture
def nodes(tmp_path: Path) -> dict[str, str]:
    ascii_node = tmp_path / "ascii.xml"
    ascii_node.write_text(vm_list.node_xml(12))
    unicode_node = tmp_path / "unicode.xml"
    unicode_node.write_text(UNICODE_NODE)
    return {
        "ascii": f"test://{ascii_node}",
        "unicode": f"test://{unicode_node}",
        "default": "test:///default",
    }


@pytest.mark.parametrize("node", ["ascii", "unicode", "default"])
@pytest.mark.parametrize("options", [[], ["--json"], ["-a"], ["--all", "--json"]])
def test_the_quick_path_prints_what_the_full_cli_prints(
    tmp_path: Path, nodes: dict[str, str], node: str, options: list[str]
) -> None:
    args = ["-c", nodes[node], "vm", "list", *options]
    env = _env(tmp_path)
    assert _took_fast_path(*args, env=env)
    quick = run_virtdeck(*args, env=env)
    full = run_virtdeck(*args, env=_env(tmp_path, FULL_CLI))
    assert quick.returncode == 0, quick.stderr
    assert (quick.stdout, quick.stderr, quick.returncode) == (
        full.stdout,
        full.stderr,
        full.returncode,
    )


def test_the_uri_from_the_environment_and_the_default(
    tmp_path: Path, nodes: dict[str, str]
) -> None:
    env = _env(tmp_path, {URI_ENV: nodes["ascii"]})
    assert _took_fast_path("vm", "list", env=env)
    listed = run_virtdeck("vm", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.count("bench00") == 12
    # -c wins over the environment, as in the full CLI.
    assert "bench00" not in run_virtdeck("-c", nodes["default"], "vm", "list", env=env).stdout


def _pty_run(argv: list[str], env: dict[str, str]) -> bytes:
    """stdout of ``argv`` on a terminal of its own, read to the end."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return out


@pytest.mark.parametrize(
    "terminal", [{"TERM": "xterm-256color"}, {"TERM": "dumb"}, {"NO_COLOR": "1"}, {"TERM": ""}]
)
def test_on_a_terminal_the_header_is_styled_as_rich_styles_it(
    tmp_path: Path, nodes: dict[str, str], terminal: dict[str, str]
) -> None:
    argv = virtdeck_command("-c", nodes["ascii"], "vm", "list")
    env = _env(tmp_path, terminal)
    quick = _pty_run(argv, env)
    assert quick == _pty_run(argv, {**env, **FULL_CLI})
    assert quick.count(b"bench00") == 12


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "nosuchdriver:///x", "vm", "list"],
        ["-c", "nosuchdriver:///x", "vm", "list", "--json"],
    ],
)
def test_a_failed_listing_is_reported_by_the_full_cli(tmp_path: Path, args: list[str]) -> None:
    env = _env(tmp_path)
    quick = run_virtdeck(*args, env=env)
    full = run_virtdeck(*args, env=_env(tmp_path, FULL_CLI))
    assert quick.returncode == 6, quick.stderr
    assert (quick.stdout, quick.stderr, quick.returncode) == (
        full.stdout,
        full.stderr,
        full.returncode,
    )
    assert " typer" in _imports(*args, env=env)


@pytest.mark.parametrize(
    "extra",
    [
        {"VIRTDECK_SERVER": "http://127.0.0.1:9"},
        {"VIRTDECK_TOKEN": "t"},
        {"VIRTDECK_DOMAIN_TYPE": "kvm"},
        {"VIRTDECK_MAX_IMAGE_BYTES": "1"},
        {"VIRTDECK_SOMETHING_NEW": "1"},
    ],
)
def test_an_environment_the_quick_path_does_not_know_goes_to_the_full_cli(
    tmp_path: Path, nodes: dict[str, str], extra: dict[str, str]
) -> None:
    assert not _took_fast_path("-c", nodes["default"], "vm", "list", env=_env(tmp_path, extra))


def test_a_stored_login_goes_to_the_full_cli(tmp_path: Path, nodes: dict[str, str]) -> None:
    env = _env(tmp_path)
    (tmp_path / "config" / "virtdeck").mkdir(parents=True)
    assert not _took_fast_path("-c", nodes["default"], "vm", "list", env=env)


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["vm", "list"], (None, False)),
        (["-c", "test:///default", "vm", "list", "--json"], ("test:///default", True)),
        (["--connect", "u", "vm", "list", "-a"], ("u", False)),
        (["--connect=u", "vm", "list", "--all", "--json"], ("u", True)),
        (["-cu", "-c", "v", "vm", "list"], ("v", False)),
        (["-c", "vm", "vm", "list"], ("vm", False)),
        (["--server", "http://x", "vm", "list"], None),
        (["--server=http://x", "vm", "list"], None),
        (["--token", "t", "vm", "list"], None),
        (["--debug", "vm", "list"], None),
        (["--domain-type", "kvm", "vm", "list"], None),
        (["vm", "list", "--help"], None),
        (["vm", "list", "-h"], None),
        (["vm", "list", "extra"], None),
        (["vm", "list", "--"], None),
        (["vm", "show", "x"], None),
        (["vm"], None),
        (["-c"], None),
        (["-c", "", "vm", "list"], None),
        (["--connect=", "vm", "list"], None),
        ([], None),
    ],
)
def test_only_a_plain_vm_list_is_taken(
    argv: list[str], parsed: tuple[str | None, bool] | None
) -> None:
    assert fast_list.parse(argv) == parsed


def test_the_settings_it_lets_through_are_ones_the_engine_cannot_refuse() -> None:
    settings = {
        var
        for var in fast_list._HARMLESS_ENV
        if var not in (URI_ENV, "VIRTDECK_REQUIRE_INTEGRATION")
    }
    assert settings
    for var in settings:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(var, "odd value: /x y:z")
            Settings.from_env()  # raises for a value the engine would refuse
    refused = {"VIRTDECK_DOMAIN_TYPE": "kvmx", "VIRTDECK_MAX_IMAGE_BYTES": "lots"}
    assert not set(refused) & fast_list._HARMLESS_ENV
    for var, value in refused.items():
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(var, value)
            with pytest.raises(Exception, match="invalid"):
                Settings.from_env()


@pytest.mark.parametrize("xdg", ["", "/somewhere/config"])
def test_the_config_directory_is_the_one_logins_are_stored_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert fast_list.config_dir(os.environ) == str(remote.config_dir())
    assert remote.login_path().parent == remote.config_dir()


def test_the_model_loads_a_module_only_when_a_name_of_it_is_used() -> None:
    probe = (
        "import sys, virtdeck.model.units\n"
        "assert 'virtdeck.model.xmlbase' not in sys.modules, sorted(sys.modules)\n"
        "import virtdeck.model as m\n"
        "from virtdeck.model import *\n"
        "for name in m.__all__:\n"
        "    value = getattr(m, name)\n"
        "    where = sys.modules['virtdeck.model.' + m._WHERE[name]]\n"
        "    assert getattr(where, name) is value, name\n"
        "assert set(m.__all__) <= set(dir(m))\n"
        "try:\n"
        "    m.NoSuchName\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
