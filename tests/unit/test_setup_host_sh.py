"""setup.sh's host steps, run on copies: /dev/kvm, qemu.conf's lock manager, the daemons.

``source setup.sh`` defines its functions and runs nothing; the files it
changes come from VIRTDECK_QEMU_CONF, VIRTDECK_DEV_KVM and
VIRTDECK_LIBVIRTD_PIDFILE, and the daemons are stubs on PATH that write
what they were asked to a log. Nothing here touches this machine's
libvirtd, /dev/kvm or /etc/libvirt.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from tests.conftest import require_or_skip

SETUP = Path(__file__).resolve().parents[2] / "setup.sh"
DEFAULT = (
    '# are "sanlock" and "lockd".\n#\n#lock_manager = "lockd"\n\n'
    "# Set limit of maximum APIs queued on one domain.\n#max_queued = 0\n"
)


def run(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "VIRTDECK_QEMU_CONF": str(tmp_path / "qemu.conf"),
        "VIRTDECK_DEV_KVM": str(tmp_path / "kvm"),
        "VIRTDECK_LIBVIRTD_PIDFILE": str(tmp_path / "libvirtd.pid"),
        **env,
    }
    return subprocess.run(
        ["bash", "-c", f'source "{SETUP}"\n{script}'],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


# -- the lock manager in qemu.conf -------------------------------------------------


def test_commented_default_gets_an_active_lockd_line_once(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text(DEFAULT)
    conf.chmod(0o600)
    first = run(tmp_path, 'configure_lock_manager; echo "changed=$QEMU_CONF_CHANGED"')
    assert first.returncode == 0, first.stderr
    assert 'added lock_manager = "lockd"' in first.stdout
    assert first.stdout.endswith("changed=1\n")
    text = conf.read_text()
    assert text.startswith(DEFAULT)  # the commented default is left as it was
    assert text.endswith('\nlock_manager = "lockd"\n')
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600

    again = run(tmp_path, 'configure_lock_manager; echo "changed=$QEMU_CONF_CHANGED"')
    assert again.returncode == 0, again.stderr
    assert 'lock_manager = "lockd" is set' in again.stdout
    assert again.stdout.endswith("changed=0\n")
    assert conf.read_text() == text


def test_another_active_lock_manager_is_replaced_and_said(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text(DEFAULT + 'lock_manager = "sanlock"\nuser = "x"\n  lock_manager="other"\n')
    conf.chmod(0o640)
    result = run(tmp_path, 'configure_lock_manager; echo "changed=$QEMU_CONF_CHANGED"')
    assert result.returncode == 0, result.stderr
    assert """replaced 'lock_manager = "sanlock"' with 'lock_manager = "lockd"'""" in result.stdout
    assert "removed the later active lock_manager lines" in result.stdout
    assert result.stdout.endswith("changed=1\n")
    assert conf.read_text() == DEFAULT + 'lock_manager = "lockd"\nuser = "x"\n'
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert list(tmp_path.glob("qemu.conf.virtdeck.*")) == []


def test_an_active_lockd_line_is_left_alone(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    text = DEFAULT + 'lock_manager = "lockd"   # set by hand\n'
    conf.write_text(text)
    result = run(tmp_path, 'configure_lock_manager; echo "changed=$QEMU_CONF_CHANGED"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("changed=0\n")
    assert conf.read_text() == text


def test_a_missing_qemu_conf_is_one_sentence(tmp_path: Path) -> None:
    result = run(tmp_path, "configure_lock_manager")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"setup: error: {tmp_path}/qemu.conf is missing; reinstall libvirt-daemon-system"
    )


# -- /dev/kvm ----------------------------------------------------------------------


def _kvm_group() -> grp.struct_group:
    if os.geteuid() != 0:
        pytest.skip("chown to root:kvm needs root")
    try:
        return grp.getgrnam("kvm")
    except KeyError:
        pytest.skip("no group kvm on this machine")


def test_root_only_dev_kvm_becomes_root_kvm_0660_as_udev_would(tmp_path: Path) -> None:
    kvm_gid = _kvm_group().gr_gid
    node = tmp_path / "kvm"  # a plain file stands in for the device node
    node.touch()
    os.chown(node, 0, 0)
    node.chmod(0o600)
    result = run(tmp_path, "fix_dev_kvm")
    assert result.returncode == 0, result.stderr
    assert f"{node} was root:root 0600, now root:kvm 0660" in result.stdout
    st = node.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, kvm_gid, 0o660)

    again = run(tmp_path, "fix_dev_kvm")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(f"{node} is root:kvm 0660")
    assert "now" not in again.stdout


def test_no_dev_kvm_is_said_and_changes_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, "fix_dev_kvm")
    assert result.returncode == 0, result.stderr
    assert f"no {tmp_path}/kvm (no KVM on this host)" in result.stdout
    assert not (tmp_path / "kvm").exists()


# -- the daemons, in order -----------------------------------------------------------

STUB = """#!/bin/bash
echo "$(basename "$0") $*" >>"$STUB_LOG"
"""
PGREP = """#!/bin/bash
# pgrep -x NAME, or pgrep -x -F PIDFILE libvirtd: the names in STUB_RUNNING run.
name="${!#}"
case " $STUB_RUNNING " in *" $name "*) ;; *) exit 1 ;; esac
if [ "$2" = -F ]; then echo "$STUB_LIBVIRTD_PID"; fi
exit 0
"""


@pytest.fixture
def stubs(tmp_path: Path) -> dict[str, str]:
    if Path("/run/systemd/system").is_dir():
        pytest.skip("this machine runs systemd: start_daemons would take the systemctl branch")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("virtlogd", "virtlockd", "libvirtd", "virsh"):
        (bin_dir / name).write_text(STUB)
    (bin_dir / "pgrep").write_text(PGREP)
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    (tmp_path / "qemu.conf").write_text(DEFAULT)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_LOG": str(tmp_path / "log")}


SEQUENCE = "fix_dev_kvm; configure_lock_manager; start_daemons"


VERSION = "virsh -q -c qemu:///system version"


def _log(tmp_path: Path) -> list[str]:
    """What the stubs were asked, in order; the waits for libvirtd's answer as one line."""
    log = tmp_path / "log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [x for i, x in enumerate(lines) if x != VERSION or i == 0 or lines[i - 1] != VERSION]


def test_fresh_host_starts_virtlogd_virtlockd_then_libvirtd(
    tmp_path: Path, stubs: dict[str, str]
) -> None:
    result = run(tmp_path, SEQUENCE, STUB_RUNNING="", **stubs)
    assert result.returncode == 0, result.stderr
    assert _log(tmp_path) == [
        "virtlogd -d",
        "virtlockd -d",
        "libvirtd -d",
        VERSION,
    ]
    out = result.stdout
    assert out.index('added lock_manager = "lockd"') < out.index("virtlockd started")
    assert out.index("virtlockd started") < out.index("libvirtd started")


def test_running_libvirtd_restarts_when_qemu_conf_changed(
    tmp_path: Path, stubs: dict[str, str]
) -> None:
    fake = subprocess.Popen(["sleep", "60"])  # stands in for the running libvirtd
    try:
        result = run(
            tmp_path,
            SEQUENCE,
            STUB_RUNNING="virtlogd libvirtd",
            STUB_LIBVIRTD_PID=str(fake.pid),
            **stubs,
        )
        # Killed by the restart; until reaped here it is a zombie, which counts as gone.
        assert fake.wait(timeout=5) == -signal.SIGTERM
    finally:
        fake.kill()
    assert result.returncode == 0, result.stderr
    assert _log(tmp_path) == ["virtlockd -d", "libvirtd -d", VERSION]
    assert f"restarting libvirtd (pid {fake.pid})" in result.stdout
    assert "libvirtd restarted" in result.stdout


def test_running_daemons_and_a_right_config_change_nothing(
    tmp_path: Path, stubs: dict[str, str]
) -> None:
    (tmp_path / "qemu.conf").write_text(DEFAULT + 'lock_manager = "lockd"\n')
    result = run(tmp_path, SEQUENCE, STUB_RUNNING="virtlogd virtlockd libvirtd", **stubs)
    assert result.returncode == 0, result.stderr
    assert _log(tmp_path) == [VERSION]
    for line in ("virtlogd running", "virtlockd running", "libvirtd running"):
        assert line in result.stdout
    assert "restart" not in result.stdout


def test_libvirtd_not_in_its_pid_file_is_not_killed(tmp_path: Path, stubs: dict[str, str]) -> None:
    # pgrep -F finds no libvirtd with the pid of the pid file: no guessing which to kill.
    pgrep = Path(stubs["PATH"].split(":")[0]) / "pgrep"
    pgrep.write_text('#!/bin/bash\n[ "$2" = -F ] && exit 1\nexit 0\n')
    result = run(tmp_path, SEQUENCE, **stubs)
    assert result.returncode == 1
    assert "libvirtd runs, but not as the pid in" in result.stderr
    assert "libvirtd -d" not in _log(tmp_path)


# -- the appliance's storage pool ---------------------------------------------------

VIRSH_POOLS = """#!/bin/bash
# A libvirt with one pool at most, its state as files in $STUB_STATE.
shift 3  # -q -c URI
echo "virsh $*" >>"$STUB_LOG"
s="$STUB_STATE"
case "$1" in
    pool-dumpxml) [ -f "$s/path" ] || exit 1
        printf "<pool type='dir'>\\n  <name>%s</name>\\n  <target>\\n" "$2"
        printf "    <path>%s</path>\\n  </target>\\n</pool>\\n" "$(cat "$s/path")" ;;
    pool-define-as) echo "$5" >"$s/path" ;;
    pool-info) printf 'Name:           %s\\nState:          %s\\nAutostart:      %s\\n' "$2" \\
        "$([ -f "$s/running" ] && echo running || echo inactive)" \\
        "$([ -f "$s/autostart" ] && echo yes || echo no)" ;;
    pool-autostart) touch "$s/autostart" ;;
    pool-start) touch "$s/running" ;;
    pool-refresh) ;;
    *) exit 1 ;;
esac
"""


@pytest.fixture
def pool_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "virsh").write_text(VIRSH_POOLS)
    (bin_dir / "virsh").chmod(0o755)
    (tmp_path / "state").mkdir()
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "log"),
        "STUB_STATE": str(tmp_path / "state"),
        "VIRTDECK_APPLIANCE_DIR": str(tmp_path / "appliance") + "/",
    }


def test_the_appliance_dir_becomes_an_autostarted_pool_once(
    tmp_path: Path, pool_env: dict[str, str]
) -> None:
    first = run(tmp_path, "appliance_pool", **pool_env)
    assert first.returncode == 0, first.stderr
    assert _log(tmp_path) == [
        "virsh pool-dumpxml virtdeck-appliance",
        f"virsh pool-define-as virtdeck-appliance dir --target {tmp_path}/appliance/",
        "virsh pool-dumpxml virtdeck-appliance",
        "virsh pool-info virtdeck-appliance",
        "virsh pool-autostart virtdeck-appliance",
        "virsh pool-start virtdeck-appliance",
    ]
    assert "defined storage pool virtdeck-appliance (dir)" in first.stdout
    (tmp_path / "log").unlink()

    again = run(tmp_path, "appliance_pool", **pool_env)
    assert again.returncode == 0, again.stderr
    assert _log(tmp_path) == [
        "virsh pool-dumpxml virtdeck-appliance",
        "virsh pool-info virtdeck-appliance",
    ]
    assert "storage pool virtdeck-appliance is active at" in again.stdout
    (tmp_path / "log").unlink()

    rebuilt = run(tmp_path, "APPLIANCE_CHANGED=1; appliance_pool", **pool_env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _log(tmp_path)[-1] == "virsh pool-refresh virtdeck-appliance"


def test_a_pool_of_that_name_elsewhere_is_one_sentence(
    tmp_path: Path, pool_env: dict[str, str]
) -> None:
    (tmp_path / "state" / "path").write_text("/srv/other\n")
    result = run(tmp_path, "appliance_pool", **pool_env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        f"setup: error: storage pool virtdeck-appliance is at /srv/other, not {tmp_path}/appliance/"
    )


# -- the tests' PostgreSQL ---------------------------------------------------------


@pytest.fixture
def pg_place() -> Iterator[Path]:
    """A directory the user postgres can reach (pytest's tmp_path is root's alone)."""
    if os.geteuid() != 0:
        require_or_skip("start_test_postgres runs initdb as the user postgres, from root")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        require_or_skip("no PostgreSQL server programs (bash setup.sh test installs them)")
    place = Path(tempfile.mkdtemp(prefix="virtdeck-pgtest-", dir="/tmp"))
    place.chmod(0o755)
    try:
        yield place
    finally:
        # Stopped here, also when the test failed half-way.
        if (place / "pg" / "postmaster.pid").exists():
            versions = Path("/usr/lib/postgresql").glob("*/bin")
            newest = max(versions, key=lambda d: float(d.parent.name))
            stop = [str(newest / "pg_ctl"), "-D", str(place / "pg"), "-m", "immediate", "stop"]
            subprocess.run(
                ["runuser", "-u", "postgres", "--", *stop],
                cwd="/",
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(place)


def test_the_tests_postgres_starts_once_on_a_socket_only(pg_place: Path) -> None:
    env = {
        "VIRTDECK_TEST_PG_DIR": str(pg_place / "pg"),
        "VIRTDECK_TEST_PG_SOCKET_DIR": str(pg_place / "sock"),
    }
    script = 'start_test_postgres && echo "url=$VIRTDECK_TEST_DATABASE_URL"'
    first = run(pg_place, script, **env)
    assert first.returncode == 0, first.stderr
    url = f"postgresql+psycopg://postgres@/virtdeck_test?host={pg_place}/sock"
    assert "made a cluster in" in first.stdout and "PostgreSQL started" in first.stdout
    assert "created the database virtdeck_test" in first.stdout
    assert first.stdout.endswith(f"url={url}\n")
    (pg_place / "pg" / "marker").write_text("kept")

    again = run(pg_place, script, **env)
    assert again.returncode == 0, again.stderr
    assert "PostgreSQL running" in again.stdout
    assert "made a cluster" not in again.stdout and "created the database" not in again.stdout
    assert again.stdout.endswith(f"url={url}\n")
    assert (pg_place / "pg" / "marker").read_text() == "kept"

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW listen_addresses")).scalar() == ""
            assert conn.execute(text("SELECT current_database()")).scalar() == "virtdeck_test"
    finally:
        engine.dispose()
    assert stat.S_IMODE((pg_place / "pg").stat().st_mode) == 0o700
    assert (pg_place / "pg").stat().st_uid == pwd.getpwnam("postgres").pw_uid
