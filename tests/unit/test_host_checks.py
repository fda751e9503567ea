"""Host checks of /dev/kvm and the lock manager, with every input injected."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from virtdeck.host import checks
from virtdeck.host.checks import Identity

KVM_GID = 4107  # a made-up gid for group kvm: nothing here reads this machine's groups
QEMU = Identity("libvirt-qemu", 64055, frozenset({KVM_GID, 64055}))


def _node(mode: int, uid: int, gid: int) -> os.stat_result:
    """What os.stat says of a character device with this mode and owner."""
    return os.stat_result((stat.S_IFCHR | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


def _by_name(found: list[checks.Finding]) -> dict[str, checks.Finding]:
    return {f.name: f for f in found}


def test_root_only_dev_kvm_fails_saying_what_it_costs_and_the_fix() -> None:
    found = _by_name(checks.check_dev_kvm("/dev/kvm", QEMU, _node(0o600, 0, 0), kvm_gid=KVM_GID))
    assert found["dev-kvm"].status == "ok"
    access = found["kvm-access"]
    assert access.status == "fail"
    assert "'libvirt-qemu' cannot open /dev/kvm (0600 root:" in access.summary
    assert "re-probes QEMU on every define and start" in access.summary
    assert "minutes instead of milliseconds" in access.summary
    assert access.fix.startswith("chgrp kvm /dev/kvm && chmod 0660 /dev/kvm")
    assert "bash setup.sh demo" in access.fix
    assert "usermod" not in access.fix  # the user is in group kvm already
    assert access.data["mode"] == "0600"


def test_root_kvm_0660_is_ok_for_a_member_of_group_kvm() -> None:
    found = _by_name(
        checks.check_dev_kvm("/dev/kvm", QEMU, _node(0o660, 0, KVM_GID), kvm_gid=KVM_GID)
    )
    assert found["dev-kvm"].status == "ok"
    assert found["kvm-access"].status == "ok"
    assert found["kvm-access"].data["mode"] == "0660"


def test_root_kvm_0660_fails_for_a_user_outside_group_kvm() -> None:
    outsider = Identity("libvirt-qemu", 64055, frozenset({64055}))
    access = _by_name(
        checks.check_dev_kvm("/dev/kvm", outsider, _node(0o660, 0, KVM_GID), kvm_gid=KVM_GID)
    )["kvm-access"]
    assert access.status == "fail"
    assert access.fix.startswith("usermod -a -G ")
    assert access.fix.endswith("libvirt-qemu, then restart libvirtd")


def test_root_only_dev_kvm_for_a_user_outside_group_kvm_names_both_fixes() -> None:
    outsider = Identity("libvirt-qemu", 64055, frozenset({64055}))
    access = _by_name(
        checks.check_dev_kvm("/dev/kvm", outsider, _node(0o600, 0, 0), kvm_gid=KVM_GID)
    )["kvm-access"]
    assert access.status == "fail"
    assert "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm" in access.fix
    assert "usermod -a -G kvm libvirt-qemu" in access.fix


def test_qemu_running_as_root_can_open_a_root_only_dev_kvm() -> None:
    root = Identity("root", 0, frozenset({0}))
    found = _by_name(checks.check_dev_kvm("/dev/kvm", root, _node(0o600, 0, 0)))
    assert found["kvm-access"].status == "ok"


def test_missing_dev_kvm_is_a_warning_and_no_access_finding(tmp_path: Path) -> None:
    found = checks.check_dev_kvm(str(tmp_path / "kvm"), QEMU)
    assert [(f.name, f.status) for f in found] == [("dev-kvm", "warn")]
    assert "does not exist" in found[0].summary


def test_qemu_user_comes_from_qemu_conf() -> None:
    assert checks.qemu_user('#user = "nobody"\nuser = "+64055"\n') == "64055"
    assert checks.qemu_user('user = "qemu"\n') == "qemu"


LOCKD_ON = '#lock_manager = "lockd"\n\nlock_manager = "lockd"\n'
LOCKD_COMMENTED = '# virtlockd, ...\n#lock_manager = "lockd"\n'


def test_lockd_on_and_virtlockd_running_is_ok() -> None:
    found = checks.check_lock_manager(LOCKD_ON, virtlockd=True)
    assert found.status == "ok"
    assert "QEMU can never open one disk writable from two VMs" in found.summary


def test_lockd_on_but_virtlockd_not_running_fails_until_it_runs() -> None:
    # libvirtd then refuses every start: a failure, not a warning.
    found = checks.check_lock_manager(LOCKD_ON, virtlockd=False)
    assert found.status == "fail"
    assert "virtlockd is not running" in found.summary
    assert "virtlockd -d" in found.fix


@pytest.mark.parametrize(
    ("conf", "seen"),
    [
        (LOCKD_COMMENTED, "no active lock_manager line"),
        ("", "no active lock_manager line"),
        ('lock_manager = "sanlock"\n', 'sets lock_manager = "sanlock", not "lockd"'),
    ],
    ids=["commented", "absent", "sanlock"],
)
def test_lock_manager_off_warns_with_what_it_protects_and_the_fix(conf: str, seen: str) -> None:
    found = checks.check_lock_manager(conf, virtlockd=True)
    assert found.status == "warn"
    assert seen in found.summary
    assert "QEMU can never open one disk writable from two VMs" in found.summary
    assert 'set lock_manager = "lockd"' in found.fix
    assert "restart libvirtd" in found.fix and "bash setup.sh demo" in found.fix


def test_the_first_active_lock_manager_line_counts_as_in_libvirt() -> None:
    assert checks.lock_manager_of('  lock_manager = "lockd"  # on\nlock_manager="x"\n') == "lockd"
    assert checks.lock_manager_of('#lock_manager = "lockd"\n') is None


def test_virtlockd_running_means_its_socket_answers(tmp_path: Path) -> None:
    path = str(tmp_path / "virtlockd-sock")
    assert not checks.virtlockd_running(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        assert checks.virtlockd_running(path)
    # The file is left behind by a daemon that is gone: nothing answers.
    assert os.path.exists(path)
    assert not checks.virtlockd_running(path)
