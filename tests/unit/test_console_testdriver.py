"""vm vnc, screenshot and console on libvirt's test driver; vm console's terminal handling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli_runner import run_virtdeck

from virtdeck.cli.vm_console_cmds import _raw_terminal
from virtdeck.engine import Engine
from virtdeck.errors import Conflict, InvalidInput, NotFound
from virtdeck.host.screenshot import png_size
from virtdeck.settings import Settings

NODE = """<node>
  <cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>
    <sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>
  <memory>16777216</memory>
  <domain type='test'>
    <name>vnc-pw</name><memory>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <devices>
      <graphics type='vnc' port='5907' autoport='no' listen='127.0.0.1' passwd='s3cret'/>
    </devices>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>spice-off</name><memory>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <devices>
      <graphics type='spice' autoport='yes'><listen type='address' address='::1'/></graphics>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>headless</name><memory>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
</node>
"""


@pytest.fixture
def uri(tmp_path: Path) -> str:
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    return f"test://{node}"


@pytest.fixture
def engine(uri: str, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(Settings(uri=uri, data_dir=tmp_path / "data", allowed_dirs=[tmp_path]))
    yield eng
    eng.close()


def cli(uri: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VIRTDECK_DATA_DIR=str(tmp_path / "data"))
    env.pop("VIRTDECK_CONNECT", None)
    return run_virtdeck("-c", uri, "vm", *args, env=env, timeout=60)


def test_graphics_of_a_running_vm_hides_the_password(engine: Engine) -> None:
    [display] = engine.graphics_info("vnc-pw").displays
    assert (display.type, display.address, display.port) == ("vnc", "127.0.0.1", 5907)
    assert display.password_set and display.password is None
    assert display.uri == "vnc://127.0.0.1:5907"
    assert engine.graphics_info("vnc-pw", show_password=True).displays[0].password == "s3cret"


def test_graphics_of_a_stopped_autoport_vm(engine: Engine) -> None:
    info = engine.graphics_info("spice-off")
    [display] = info.displays
    assert not info.running
    assert (display.type, display.address, display.port) == ("spice", "::1", None)
    assert display.autoport and not display.password_set and display.uri is None


def test_vnc_cli_table_and_json(uri: str, tmp_path: Path) -> None:
    shown = cli(uri, tmp_path, "vnc", "vnc-pw")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "Port      5907" in lines
    assert "Password  set (--show-password prints it)" in lines
    assert "s3cret" not in shown.stdout
    stopped = cli(uri, tmp_path, "vnc", "spice-off").stdout.splitlines()
    assert "Port      autoport: assigned at start" in stopped
    as_json = json.loads(cli(uri, tmp_path, "vnc", "vnc-pw", "--show-password", "--json").stdout)
    assert as_json["displays"][0]["password"] == "s3cret"


def test_vm_without_graphics_says_so(uri: str, tmp_path: Path) -> None:
    result = cli(uri, tmp_path, "vnc", "headless")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: VM headless has no graphics (created with --graphics none); "
        "use its serial console ('virtdeck vm console headless')"
    ]


def test_screenshot_written_as_png(uri: str, tmp_path: Path) -> None:
    target = tmp_path / "shot.png"
    result = cli(uri, tmp_path, "screenshot", "vnc-pw", str(target))
    assert result.returncode == 0, result.stderr
    width, height = png_size(target.read_bytes())
    assert width > 0 and height > 0
    assert f"Saved a {width}x{height} screenshot of vnc-pw to {target}" in result.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shot.png")]


def test_screenshot_refusals(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(Conflict, match="spice-off is not running"):
        engine.screenshot("spice-off", str(tmp_path / "a.png"))
    with pytest.raises(InvalidInput, match=r"give a FILE\.png name"):
        engine.screenshot("vnc-pw", str(tmp_path / "a.jpg"))
    with pytest.raises(InvalidInput, match="does not exist"):
        engine.screenshot("vnc-pw", str(tmp_path / "nowhere" / "a.png"))
    assert not list(tmp_path.glob("*.png"))


def test_console_refusals(engine: Engine) -> None:
    with pytest.raises(Conflict, match="spice-off is not running; start it"):
        engine.open_console("spice-off")
    with pytest.raises(NotFound, match="headless has no serial console"):
        engine.open_console("headless")
    with pytest.raises(NotFound, match="no VM named 'nope'"):
        engine.open_console("nope")


@pytest.fixture
def pty_fd() -> Iterator[int]:
    master, slave = os.openpty()
    yield slave
    os.close(master)
    os.close(slave)


def test_raw_terminal_restored_after_an_error(pty_fd: int) -> None:
    cooked = termios.tcgetattr(pty_fd)
    with pytest.raises(RuntimeError), _raw_terminal(pty_fd):
        raw = termios.tcgetattr(pty_fd)
        assert not raw[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
        raise RuntimeError("boom")
    assert termios.tcgetattr(pty_fd) == cooked


def test_raw_terminal_restored_when_killed(pty_fd: int) -> None:
    cooked = termios.tcgetattr(pty_fd)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exited, _raw_terminal(pty_fd):
        os.kill(os.getpid(), signal.SIGTERM)
    assert exited.value.code == 128 + signal.SIGTERM
    assert termios.tcgetattr(pty_fd) == cooked
    assert signal.getsignal(signal.SIGTERM) == before
