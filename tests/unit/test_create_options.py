"""``vm create``: option mixes that make no sense are refused before anything is made."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli_runner import run_virtdeck
from tests.errors_cli import cli_text

from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.errors import InvalidInput, Unsupported
from virtdeck.host import seed
from virtdeck.settings import Settings

TEST_URI = "test:///default"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq7dsJhRkqz1Yt9uLkD9l0G2kG4kYc2Wl3h8xZtqv1n a@b"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(
        Settings(
            uri=TEST_URI, data_dir=tmp_path / "data", allowed_dirs=[tmp_path], images_dir=tmp_path
        )
    )
    yield eng
    eng.close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    iso = tmp_path / "install.iso"
    with open(iso, "wb") as fh:
        seed.write_seed_image(fh, "", "")
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    missing = tmp_path / "nonexistent.iso"
    return {"iso": str(iso), "disk": str(disk), "notiso": str(disk), "missing": str(missing)}


# (request fields, what the CLI says, the field the error names). The field
# is None where the error concerns no single one (no disk source at all), and
# for a path outside the pools it is the field that named the path.
REFUSED: list[tuple[dict[str, object], str, str | None]] = [
    ({}, "the VM needs a disk; give exactly one of --image BASE, --iso FILE", None),
    ({"image": "{disk}", "iso": "{iso}"}, "--image and --iso both say where", "iso"),
    ({"iso": "{iso}", "import_disk": "{disk}"}, "--iso and --import-disk both say", "import_disk"),
    (
        {"image": "{disk}", "import_disk": "{disk}"},
        "--image and --import-disk both say",
        "import_disk",
    ),
    (
        {"import_disk": "{disk}", "full_copy": True},
        "--full-copy only applies to --image",
        "full_copy",
    ),
    (
        {"iso": "{iso}"},
        "--iso installs onto a new empty disk; give its size with --disk-size",
        "disk_size_bytes",
    ),
    (
        {"import_disk": "{disk}", "disk_size_bytes": 2**30},
        "--disk-size makes no sense with",
        "disk_size_bytes",
    ),
    (
        {"image": "{disk}", "full_copy": True, "disk_size_bytes": 2**30},
        "cannot grow a --full",
        "disk_size_bytes",
    ),
    (
        {"iso": "{iso}", "disk_size_bytes": 4096},
        "--disk-size must be at least 1M",
        "disk_size_bytes",
    ),
    ({"iso": "{iso}", "disk_size_bytes": 2**30, "graphics": "none"}, "needs a screen", "graphics"),
    ({"iso": "{notiso}", "disk_size_bytes": 2**30}, "is not an ISO 9660 CD image", "iso"),
    ({"iso": "{missing}", "disk_size_bytes": 2**30}, "is not a file", "iso"),
    ({"iso": "/nonexistent.iso", "disk_size_bytes": 2**30}, "outside every storage pool", "iso"),
    (
        {"import_disk": "/etc/shadow"},
        "--import-disk '/etc/shadow' is outside every storage pool",
        "import_disk",
    ),
    (
        {"image": "/etc/shadow", "full_copy": True},
        "--image '/etc/shadow' is outside every",
        "image",
    ),
    (
        {"image": "{disk}", "ssh_keys": ["id_rsa contents"]},
        "not look like an SSH public key",
        "ssh_keys",
    ),
    (
        {"image": "{disk}", "ssh_keys": [KEY, "-----BEGIN RSA PRIVATE KEY-----"]},
        "private key",
        "ssh_keys",
    ),
    ({"image": "{disk}", "user_data": "x" * 2**20}, "--user-data is 1 MiB or larger", "user_data"),
    (
        {"image": "{disk}", "hostname": "bad_name"},
        "--hostname 'bad_name' is not a valid",
        "hostname",
    ),
    ({"name": "under_score", "image": "{disk}", "ssh_keys": [KEY]}, "give --hostname", "hostname"),
    ({"image": "{disk}", "cpus": 0}, "--cpus must be at least 1", "cpus"),
]


@pytest.mark.parametrize(("fields", "says", "field"), REFUSED)
def test_refused_in_one_sentence_and_nothing_made(
    engine: Engine,
    files: dict[str, str],
    tmp_path: Path,
    fields: dict[str, object],
    says: str,
    field: str | None,
) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    values: dict[str, object] = {"name": "newvm"}
    for key, value in fields.items():
        values[key] = value.format(**files) if isinstance(value, str) else value
    with pytest.raises(InvalidInput) as info:
        engine.create_vm(VmCreate.model_validate(values))
    message = cli_text(info.value)
    assert says in message
    assert info.value.field == field
    assert not re.search(r"\.\s+[A-Z]", message) and "\n" not in message
    assert [v.name for v in engine.list_vms()] == ["test"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_import_disk_boots_first_with_no_cd(engine: Engine, files: dict[str, str]) -> None:
    vm = engine.create_vm(VmCreate(name="imported", import_disk=files["disk"]))
    assert [(d.target, d.device, d.format, d.created_by_virtdeck) for d in vm.disks] == [
        ("vda", "disk", "qcow2", False)
    ]
    assert "<boot order='1'/>" in engine.vm_xml("imported", inactive=True)


def test_seed_on_a_remote_or_test_host_is_refused_and_undone(
    engine: Engine, files: dict[str, str]
) -> None:
    with pytest.raises(Unsupported, match="cloud-init seed"):
        engine.create_vm(VmCreate(name="seeded", import_disk=files["disk"], hostname="h"))
    assert [v.name for v in engine.list_vms()] == ["test"]


def _cli(tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "VIRTDECK_CONNECT"}
    env["VIRTDECK_DATA_DIR"] = str(tmp_path / "data")
    result = run_virtdeck("-c", TEST_URI, "vm", "create", "newvm", *args, env=env, timeout=60)
    assert result.returncode == InvalidInput.exit_code, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_cli_reads_and_checks_the_users_files(tmp_path: Path, files: dict[str, str]) -> None:
    disk = files["disk"]
    missing = tmp_path / "nope.pub"
    assert f"--ssh-key {missing} does not exist" in _cli(
        tmp_path, "--image", disk, "--ssh-key", str(missing)
    )
    private = tmp_path / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    line = _cli(tmp_path, "--image", disk, "--ssh-key", str(private))
    assert "private key" in line and "secret" not in line
    binary = tmp_path / "ud.bin"
    binary.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")
    assert "is not UTF-8 text" in _cli(tmp_path, "--image", disk, "--user-data", str(binary))
    big = tmp_path / "ud.big"
    big.write_text("#cloud-config\n" + "#" * 2**20)
    assert "is too large (1 MiB or more)" in _cli(
        tmp_path, "--image", disk, "--user-data", str(big)
    )
    assert "--image and --iso both say" in _cli(
        tmp_path, "--image", disk, "--iso", files["iso"], "--disk-size", "1G"
    )
