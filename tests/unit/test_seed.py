"""NoCloud seed ISOs (virtdeck.host.seed): what a guest's cloud-init would read."""

from __future__ import annotations

import io
import re
import stat
import subprocess
from pathlib import Path

import pycdlib
import pytest
import yaml
from tests.conftest import require_or_skip
from tests.errors_cli import cli_text

from virtdeck.errors import Conflict, Hint, InvalidInput, Unsupported
from virtdeck.host import seed
from virtdeck.host.connection import Host

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq7dsJhRkqz1Yt9uLkD9l0G2kG4kYc2Wl3h8xZtqv1n me@pc"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ops key with spaces"


def _read(iso: pycdlib.PyCdlib, **path: str) -> str:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **path)
    return out.getvalue().decode()


def _open(data: bytes) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    return iso


def test_seed_image_has_cidata_label_and_lowercase_names() -> None:
    buf = io.BytesIO()
    seed.write_seed_image(buf, "instance-id: iid-1\nlocal-hostname: h\n", "#cloud-config\n")
    data = buf.getvalue()
    # What the appliance (and cloud-init's blkid probe) read: the volume id in sector 16.
    assert data[16 * 2048 + 40 : 16 * 2048 + 72].decode().rstrip() == "cidata"
    iso = _open(data)
    try:
        for how in ("rr_path", "joliet_path"):
            assert _read(iso, **{how: "/meta-data"}).startswith("instance-id: iid-1\n")
            assert _read(iso, **{how: "/user-data"}) == "#cloud-config\n"
        names = {c.file_identifier().decode() for c in iso.list_children(iso_path="/")}
        assert {"METADATA.;1", "USERDATA.;1"} <= names
    finally:
        iso.close()


def test_seed_image_is_recognised_by_xorriso(tmp_path: Path) -> None:
    """An independent reader: xorriso sees the Rock Ridge names and the label."""
    path = tmp_path / "seed.iso"
    with open(path, "wb") as fh:
        seed.write_seed_image(fh, "instance-id: x\nlocal-hostname: h\n", "")
    try:
        found = subprocess.run(
            ["xorriso", "-indev", str(path), "-pvd_info", "-ls", "/"],
            capture_output=True,
            text=True,
            check=True,
        )
    except FileNotFoundError:
        require_or_skip("xorriso is not installed (bash setup.sh test installs it)")
    out = found.stdout + found.stderr
    assert "Volume Id    : cidata" in out
    assert "'meta-data'" in out and "'user-data'" in out


def test_meta_data_and_cloud_config_are_yaml_cloud_init_reads() -> None:
    meta = yaml.safe_load(seed.meta_data("iid-42", "web-1", [KEY, RSA]))
    assert meta == {
        "instance-id": "iid-42",
        "local-hostname": "web-1",
        "public-keys": [KEY, RSA],
    }
    text = seed.cloud_config("web-1", [KEY])
    assert text.startswith("#cloud-config\n")
    assert yaml.safe_load(text) == {"hostname": "web-1", "ssh_authorized_keys": [KEY]}
    assert yaml.safe_load(seed.cloud_config("web-1", [])) == {"hostname": "web-1"}
    assert "public-keys" not in seed.meta_data("i", "h", [])


def test_public_keys_accepts_pub_files() -> None:
    assert seed.public_keys(KEY + "\n") == [KEY]
    assert seed.public_keys(f"# mine\n{KEY}\n\n{RSA}\n") == [KEY, RSA]
    ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI"
    assert seed.public_keys(ecdsa) == [ecdsa]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", "private key"),
        ("", "does not look like an SSH public key"),
        ("hello world\n", "does not look like an SSH public key"),
        (f"{KEY}\nnot a key\n", "does not look like an SSH public key"),
        ("ssh-ed25519\n", "does not look like an SSH public key"),
    ],
)
def test_public_keys_refuses_anything_else(text: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as info:
        seed.public_keys(text)
    assert "b3Blbn" not in info.value.message  # never echo a private key
    assert info.value.field == "ssh_keys"
    assert cli_text(info.value).startswith("--ssh-key ")


@pytest.mark.parametrize("name", ["a", "web-1", "db01.example.org", "x" * 63])
def test_hostnames_accepted(name: str) -> None:
    seed.check_hostname(name)


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "a_b", "a b", "a..b", "x" * 64, "h\nlocal-hostname: evil"]
)
def test_hostnames_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid host name") as given:
        seed.check_hostname(name)
    assert given.value.field == "hostname"
    with pytest.raises(InvalidInput) as info:
        seed.check_hostname(name, given=False)
    assert re.search("give --hostname", cli_text(info.value))
    assert info.value.field == "hostname"


def test_write_seed_is_private_and_never_overwrites(tmp_path: Path) -> None:
    host = Host("qemu:///system")  # local; write_seed needs no connection
    path = tmp_path / "vm-seed.iso"
    seed.write_seed(host, path, "instance-id: a\n", "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(Conflict, match="already exists") as info:
        seed.write_seed(host, path, "instance-id: b\n", "")
    assert info.value.hint == Hint("vm.list")
    assert cli_text(info.value).endswith("show whose it may be ('virtdeck vm list')")
    assert path.read_bytes() == before
    with pytest.raises(Unsupported, match="local host"):
        seed.write_seed(Host("test:///default"), tmp_path / "t.iso", "", "")
    assert not (tmp_path / "t.iso").exists()


def test_check_cd_image(tmp_path: Path) -> None:
    iso = tmp_path / "x.iso"
    with open(iso, "wb") as fh:
        seed.write_seed_image(fh, "", "")
    seed.check_cd_image(iso)
    with pytest.raises(InvalidInput, match="is not a file"):
        seed.check_cd_image(tmp_path / "missing.iso")
    other = tmp_path / "disk.img"
    other.write_bytes(b"\0" * 40000)
    with pytest.raises(InvalidInput, match="not an ISO 9660 CD image") as info:
        seed.check_cd_image(other)
    assert info.value.field == "iso"
    assert "or boot a disk image with --import-disk" in cli_text(info.value)
    with pytest.raises(InvalidInput, match="is not a file"):
        seed.check_cd_image(tmp_path)
