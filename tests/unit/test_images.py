"""The image inspector against real files made with qemu-img, dd and mkfifo (no libvirt).

Each refusal is proven on a file that really has the property (a real
external data file, a real json: backing name, a real FIFO), and each limit
of qemu-img on a qemu-img run that really hits it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from tests.errors_cli import cli_text

from virtdeck.errors import (
    HostUnavailable,
    InvalidInput,
    NotFound,
    OperationFailed,
    Timeout,
    VirtdeckError,
    opt,
)
from virtdeck.host import image_headers, images, qemu_img, storage
from virtdeck.host.connection import Host
from virtdeck.host.images import ImageFacts, ImageLimits

LIMITS = ImageLimits(max_virtual_bytes=1 << 40)


def qimg(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def raw(path: Path, size: int = 1 << 20, fill: bytes = b"\x5a") -> Path:
    path.write_bytes(fill * size)
    return path


def anywhere(path: Path, _what: str) -> Path:
    return path


class Places:
    """A place check that allows only ``root`` and remembers what it was asked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.asked: list[tuple[Path, str]] = []

    def __call__(self, path: Path, what: str) -> Path:
        self.asked.append((path, what))
        if not path.is_relative_to(self.root):
            raise InvalidInput(f"{what} {path} is outside the pool {self.root}")
        return path


def look(path: Path, **kwargs: Any) -> ImageFacts:
    kwargs.setdefault("check_place", anywhere)
    kwargs.setdefault("limits", LIMITS)
    return images.inspect(path, **kwargs)


def refused(path: Path, pattern: str, error: type[VirtdeckError] = InvalidInput, **kw: Any) -> str:
    with pytest.raises(error, match=pattern) as caught:
        look(path, **kw)
    message = caught.value.message
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    (tmp_path / "pool").mkdir()
    return tmp_path / "pool"


# -- accepted ---------------------------------------------------------------------


def test_a_raw_file_is_raw_with_its_size_as_virtual_size(tmp_path: Path) -> None:
    facts = look(raw(tmp_path / "disk.img", 3 << 20))
    assert facts == ImageFacts(tmp_path / "disk.img", "raw", 3 << 20, None)


def test_a_symlink_is_resolved_before_anything_else(tmp_path: Path) -> None:
    target = raw(tmp_path / "real.img")
    (tmp_path / "link.img").symlink_to(target)
    places = Places(tmp_path)
    assert look(tmp_path / "link.img", check_place=places).path == target
    assert places.asked == [(target, "the disk image")]


@pytest.mark.parametrize("compat", ["1.1", "0.10"])  # qcow2 versions 3 and 2
def test_a_qcow2_image_of_either_version(tmp_path: Path, compat: str) -> None:
    qimg("create", "-f", "qcow2", "-o", f"compat={compat}", str(tmp_path / "d.qcow2"), "16M")
    facts = look(tmp_path / "d.qcow2")
    assert (facts.format, facts.virtual_size, facts.backing) == ("qcow2", 16 << 20, None)


def test_a_qcow2_named_raw_is_qcow2_by_its_header_not_its_name(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "x.raw"), "8M")
    assert look(tmp_path / "x.raw").format == "qcow2"


@pytest.mark.parametrize("base_format", ["qcow2", "raw"])
def test_an_overlay_on_a_base_in_the_pool(pool: Path, base_format: str) -> None:
    base = pool / f"base.{base_format}"
    qimg("create", "-f", base_format, str(base), "16M")
    # A relative backing name is resolved against the overlay's directory.
    qimg("create", "-f", "qcow2", "-b", base.name, "-F", base_format, str(pool / "top.qcow2"))
    places = Places(pool)
    facts = look(pool / "top.qcow2", check_place=places)
    assert facts.backing == ImageFacts(base, base_format, 16 << 20, None)  # type: ignore[arg-type]
    assert places.asked[-1] == (base, f"the backing file of {pool / 'top.qcow2'}")


def test_without_a_backing_format_the_backing_header_decides(pool: Path) -> None:
    raw(pool / "base.img")
    top = pool / "top.qcow2"
    qimg("create", "-f", "qcow2", "-b", "base.img", "-F", "raw", "-u", str(top), "1M")
    data = top.read_bytes()
    # Make the backing-format extension an unknown (ignored) one: no format said.
    marker = (image_headers.EXT_BACKING_FORMAT).to_bytes(4, "big")
    assert data.count(marker) == 1
    top.write_bytes(data.replace(marker, (0x12345678).to_bytes(4, "big")))
    facts = look(top)
    assert facts.backing is not None and facts.backing.format == "raw"


def test_a_chain_of_eight_images_is_accepted_and_nine_refused(pool: Path) -> None:
    qimg("create", "-f", "qcow2", str(pool / "i0.qcow2"), "1M")
    for n in range(1, 9):
        below = f"i{n - 1}.qcow2"
        qimg("create", "-f", "qcow2", "-b", below, "-F", "qcow2", str(pool / f"i{n}.qcow2"))
    facts, depth = look(pool / "i7.qcow2"), 0
    while facts.backing is not None:
        facts, depth = facts.backing, depth + 1
    assert depth == 7
    refused(pool / "i8.qcow2", r"backing chain of more than 8 images; flatten it")


# -- special files ----------------------------------------------------------------


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    refused(tmp_path / "nope.img", r"/nope.img does not exist; give the path", NotFound)
    (tmp_path / "dangling").symlink_to(tmp_path / "gone.img")
    refused(tmp_path / "dangling", r"does not exist", NotFound)


def test_a_refusal_names_the_field_the_image_came_in(pool: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound) as missing:
        look(tmp_path / "nope.img", what=opt("import_disk"))
    assert missing.value.field == "import_disk"
    assert cli_text(missing.value).startswith(f"--import-disk {tmp_path}/nope.img does not exist")
    # Deep in the backing chain it is still the image that field named.
    top = pool / "evil.qcow2"
    qimg("create", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", "-u", str(top), "1M")
    with pytest.raises(InvalidInput, match="is outside the pool") as outside:
        look(top, what=opt("image"), check_place=Places(pool))
    assert outside.value.field == "image"
    # Words name no field.
    with pytest.raises(InvalidInput) as words:
        look(tmp_path, what="disk vda of VM web1")
    assert words.value.field is None


def test_a_directory_is_a_directory(tmp_path: Path) -> None:
    refused(tmp_path, r"is a directory, not a disk image file")


def test_dev_zero_is_a_character_device() -> None:
    refused(Path("/dev/zero"), r"/dev/zero is a character device, not a disk image file")


def test_a_fifo_is_refused_at_once_without_opening_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    started = time.monotonic()
    refused(tmp_path / "pipe", r"is a FIFO \(named pipe\), not a disk image file")
    assert time.monotonic() - started < 5


def test_a_socket_is_refused(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
        refused(tmp_path / "s", r"is a socket, not a disk image file")


def test_an_empty_file_is_empty(tmp_path: Path) -> None:
    (tmp_path / "zero.img").touch()
    refused(tmp_path / "zero.img", r"is empty \(0 bytes\)")


def test_a_qcow2_of_virtual_size_zero_is_refused(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "z.qcow2"), "0")
    refused(tmp_path / "z.qcow2", r"has a virtual size of 0 bytes")


def test_an_unreadable_file_says_so() -> None:
    """As an unprivileged user (root reads everything), in a directory it may enter."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to switch to user nobody")
    where = Path(tempfile.mkdtemp(prefix="virtdeck-unreadable-"))
    try:
        where.chmod(0o755)
        secret = raw(where / "secret.img")
        secret.chmod(0o000)
        code = (
            "import sys; from pathlib import Path; from virtdeck.host import images\n"
            "try:\n"
            "    images.inspect(Path(sys.argv[1]), check_place=lambda p, w: p,\n"
            "                   limits=images.ImageLimits(1 << 40))\n"
            "except images.InvalidInput as e:\n"
            "    print(e.message)\n"
        )
        src = str(Path(images.__file__).parents[2])
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        out = subprocess.run(
            [*nobody, sys.executable, "-c", code, str(secret)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": src, "PATH": os.environ["PATH"]},
            check=False,
        )
        assert "cannot be read (permission denied)" in out.stdout, out.stderr
    finally:
        shutil.rmtree(where)


# -- formats ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options", "name"),
    [
        ("vmdk", [], "vmdk"),
        ("vmdk", ["-o", "subformat=monolithicFlat"], r"vmdk \(descriptor\)"),
        ("vdi", [], "vdi"),
        ("vpc", [], r"vpc \(VHD\)"),
        ("vpc", ["-o", "subformat=fixed"], r"vpc \(fixed VHD\)"),
        ("vhdx", [], "vhdx"),
        ("qed", [], "qed"),
        ("parallels", [], "parallels"),
        ("qcow", [], r"qcow \(version 1\)"),
    ],
)
def test_another_format_qemu_would_probe_is_refused(
    tmp_path: Path, fmt: str, options: list[str], name: str
) -> None:
    qimg("create", "-f", fmt, *options, str(tmp_path / "x.img"), "1M")
    refused(tmp_path / "x.img", rf"is a {name} image; convert it to qcow2 first")


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"LUKS\xba\xbe\x00\x01", "luks"),
        (image_headers._CLOOP, "cloop"),
        (b"Bochs Virtual HD Image\x00", "bochs"),
    ],
)
def test_other_magic_written_by_hand_is_refused(tmp_path: Path, head: bytes, name: str) -> None:
    (tmp_path / "x.img").write_bytes(head + b"\x00" * 65536)
    refused(tmp_path / "x.img", rf"is a {name} image")


def test_a_dmg_trailer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.img").write_bytes(b"\x00" * 65536 + b"koly" + b"\x00" * 508)
    refused(tmp_path / "x.img", r"is a dmg image")


def test_a_qcow2_header_in_a_disk_said_to_be_raw_is_the_probing_attack(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "disk.img"), "1M")
    message = refused(
        tmp_path / "disk.img", r"said to be raw but starts with a qcow2 header", declared="raw"
    )
    assert "classic trick" in message


def test_a_raw_file_said_to_be_qcow2_is_refused(tmp_path: Path) -> None:
    refused(
        raw(tmp_path / "d.qcow2"), r"said to be qcow2 but has no qcow2 header", declared="qcow2"
    )


def test_a_format_virtdeck_does_not_take_is_refused(tmp_path: Path) -> None:
    refused(
        raw(tmp_path / "d.img"),
        r"said to be 'vmdk', and virtdeck takes only raw and qcow2",
        declared="vmdk",
    )


# -- qcow2 backing files and features ---------------------------------------------------


def test_a_backing_file_outside_the_pool_is_refused(pool: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    qimg("create", "-f", "qcow2", str(tmp_path / "outside/base.qcow2"), "1M")
    top = pool / "top.qcow2"
    qimg("create", "-f", "qcow2", "-b", "../outside/base.qcow2", "-F", "qcow2", str(top))
    refused(top, rf"the backing file of {top} .*is outside the pool", check_place=Places(pool))


def test_a_host_file_as_backing_is_refused_before_any_copy(pool: Path) -> None:
    """The hostile probe: a qcow2 in the pool over /etc/hostname, then --full-copy."""
    top = pool / "evil.qcow2"
    qimg("create", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", "-u", str(top), "1M")
    refused(top, r"backing file of .*/etc/hostname is outside the pool", check_place=Places(pool))


def test_a_json_backing_name_is_refused(tmp_path: Path) -> None:
    spec = 'json:{"driver":"raw","file":{"filename":"/etc/hostname"}}'
    top = tmp_path / "x.qcow2"
    qimg("create", "-f", "qcow2", "-b", spec, "-F", "raw", "-u", str(top), "1M")
    refused(top, r"describes its backing file with a json: name")


@pytest.mark.parametrize(
    "name", ["nbd://127.0.0.1:1/x", "nbd:127.0.0.1:1", "http://example.com/x", "file:/etc/hostname"]
)
def test_a_protocol_backing_name_is_refused(tmp_path: Path, name: str) -> None:
    top = tmp_path / "x.qcow2"
    qimg("create", "-f", "qcow2", "-b", name, "-F", "raw", "-u", str(top), "1M")
    refused(top, r"has a network or protocol backing file")


def test_an_external_data_file_is_refused(tmp_path: Path) -> None:
    data = raw(tmp_path / "data.bin")
    top = tmp_path / "x.qcow2"
    qimg("create", "-f", "qcow2", "-o", f"data_file={data}", str(top), "1M")
    refused(top, r"keeps its data in an external data file \('.*data\.bin'\)")


def _patch(path: Path, offset: int, value: bytes) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(value)


def test_unknown_incompatible_features_are_refused(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "x.qcow2"), "1M")
    _patch(tmp_path / "x.qcow2", 72, (1 << 40).to_bytes(8, "big"))
    refused(tmp_path / "x.qcow2", r"incompatible feature bits 0x10000000000")


def test_a_qcow2_marked_corrupt_is_refused(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "x.qcow2"), "1M")
    _patch(tmp_path / "x.qcow2", 72, (2).to_bytes(8, "big"))
    refused(tmp_path / "x.qcow2", r"is marked corrupt; repair it")


def test_an_encrypted_qcow2_is_refused(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "x.qcow2"), "1M")
    _patch(tmp_path / "x.qcow2", 32, (1).to_bytes(4, "big"))  # crypt_method AES
    refused(tmp_path / "x.qcow2", r"is encrypted")


def test_a_corrupt_qcow2_is_refused_with_qemu_imgs_words(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "x.qcow2"), "1M")
    _patch(tmp_path / "x.qcow2", 48, (0x1234).to_bytes(8, "big"))  # refcount table offset
    refused(tmp_path / "x.qcow2", r"not a qcow2 image qemu-img can read \(.*table offset invalid")


def test_a_truncated_qcow2_header_is_refused(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "x.qcow2"), "1M")
    (tmp_path / "x.qcow2").write_bytes((tmp_path / "x.qcow2").read_bytes()[:80])
    refused(tmp_path / "x.qcow2", r"is not a valid qcow2 image: its header is cut short")


def test_a_backing_format_that_disagrees_with_the_backing_header(pool: Path) -> None:
    qimg("create", "-f", "qcow2", str(pool / "base.qcow2"), "1M")
    top = pool / "top.qcow2"
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "raw", "-u", str(top), "1M")
    refused(top, rf"base.qcow2 \(the backing file of {top}\) is said to be raw but starts")


def test_a_loop_in_the_backing_chain_is_refused(pool: Path) -> None:
    for name, other in (("a", "b"), ("b", "a")):
        below, top = f"{other}.qcow2", str(pool / f"{name}.qcow2")
        qimg("create", "-f", "qcow2", "-b", below, "-F", "qcow2", "-u", top, "1M")
    refused(pool / "a.qcow2", rf"backing chain that loops back to {pool / 'a.qcow2'}")


def test_an_image_backed_by_itself_is_a_loop(pool: Path) -> None:
    top = pool / "self.qcow2"
    qimg("create", "-f", "qcow2", "-b", "self.qcow2", "-F", "qcow2", "-u", str(top), "1M")
    refused(top, r"loops back")


# -- size -------------------------------------------------------------------------


def test_an_image_over_the_size_limit_names_the_setting(tmp_path: Path) -> None:
    qimg("create", "-f", "qcow2", str(tmp_path / "big.qcow2"), "16M")
    small = ImageLimits(max_virtual_bytes=1 << 20)
    message = refused(
        tmp_path / "big.qcow2",
        r"virtual size of 16 MiB \(16777216 bytes\), over "
        r"the limit of 1 MiB",
        limits=small,
    )
    assert "VIRTDECK_MAX_IMAGE_BYTES" in message
    refused(raw(tmp_path / "big.img", 2 << 20), r"over the limit of 1 MiB", limits=small)


def test_a_backing_file_over_the_limit_is_refused(pool: Path) -> None:
    qimg("create", "-f", "qcow2", str(pool / "base.qcow2"), "64M")
    top = pool / "top.qcow2"
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", str(top), "1M")
    refused(
        top,
        r"base.qcow2 \(the backing file .*over the limit of 16 MiB",
        limits=ImageLimits(max_virtual_bytes=16 << 20),
    )


def test_the_setting_has_a_default_and_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from virtdeck.settings import Settings  # noqa: PLC0415

    assert Settings().max_image_bytes == 4 << 40
    monkeypatch.setenv("VIRTDECK_MAX_IMAGE_BYTES", str(1 << 30))
    assert Settings.from_env().max_image_bytes == 1 << 30


# -- qemu-img under limits --------------------------------------------------------


def test_qemu_img_runs_under_prlimit_with_the_limits() -> None:
    argv = qemu_img.qemu_img_argv(["info", "-f", "raw", "x"], 1 << 30, 30)
    assert Path(argv[0]).name == "prlimit"
    assert argv[1:4] == ["--as=1073741824", "--cpu=30", "--"]
    assert Path(argv[4]).name == "qemu-img" and argv[5:] == ["info", "-f", "raw", "x"]
    assert "--cpu=unlimited" in qemu_img.qemu_img_argv(["info"], 1 << 30, None)


def test_every_cross_check_names_the_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    real = images.run_limited

    def spy(args: list[str], *rest: Any, **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.append(list(args))
        return real(args, *rest, **kw)

    monkeypatch.setattr(images, "run_limited", spy)
    raw(tmp_path / "base.img")
    qimg("create", "-f", "qcow2", "-b", "base.img", "-F", "raw", str(tmp_path / "top.qcow2"))
    look(tmp_path / "top.qcow2")
    assert [a[:3] for a in seen] == [["info", "-f", "raw"], ["info", "-f", "qcow2"]]
    assert all("--force-share" in a for a in seen)


def test_a_qemu_img_that_hangs_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    """qemu-img really hangs opening a FIFO nobody writes (as on a dead NFS server)."""
    os.mkfifo(tmp_path / "hang")
    limits = ImageLimits(max_virtual_bytes=1 << 40, qemu_img_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(Timeout, match=r"cannot read it: qemu-img took more than 0.5 s"):
        images.run_qemu_img(["info", "-f", "raw", str(tmp_path / "hang")], limits, "read it")
    assert time.monotonic() - started < 10
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "hang")], capture_output=True, check=False)
    assert left.stdout == b""


def test_a_qemu_img_over_its_cpu_limit_is_stopped(tmp_path: Path) -> None:
    """Compressing 128 MiB of noise takes qemu-img some 3 s of CPU (here: 64 MiB, 1.8 s)."""
    (tmp_path / "noise.img").write_bytes(os.urandom(128 << 20))
    limits = ImageLimits(max_virtual_bytes=1 << 40, qemu_img_cpu_seconds=1)
    args = ["convert", "-c", "-f", "raw", "-O", "qcow2", str(tmp_path / "noise.img")]
    with pytest.raises(OperationFailed, match=r"qemu-img used up its CPU limit of 1 s"):
        images.run_qemu_img([*args, str(tmp_path / "out.qcow2")], limits, "squeeze it")


def test_a_qemu_img_over_its_memory_limit_is_stopped(tmp_path: Path) -> None:
    limits = ImageLimits(max_virtual_bytes=1 << 40, qemu_img_memory_bytes=8 << 20)
    with pytest.raises(OperationFailed, match=r"cannot read it: qemu-img .*memory limit of 8 MiB"):
        images.run_qemu_img(["info", "-f", "raw", str(raw(tmp_path / "x"))], limits, "read it")


def test_without_qemu_img_the_host_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HostUnavailable, match="qemu-img is not installed"):
        look(raw(tmp_path / "x.img"))


# -- backing_chain ----------------------------------------------------------------


def test_backing_chain_lists_the_resolved_backing_files(pool: Path) -> None:
    raw(pool / "base.img")
    qimg("create", "-f", "qcow2", "-b", "base.img", "-F", "raw", str(pool / "mid.qcow2"))
    (pool / "sub").mkdir()
    top = pool / "sub/top.qcow2"
    qimg("create", "-f", "qcow2", "-b", "../mid.qcow2", "-F", "qcow2", str(top))
    assert images.backing_chain(top) == [pool / "mid.qcow2", pool / "base.img"]
    assert images.backing_chain(pool / "base.img") == []


def test_backing_chain_is_tolerant(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "short.qcow2").write_bytes(b"QFI\xfb\x00\x00\x00\x03")
    for odd in (
        tmp_path / "missing",
        tmp_path,
        tmp_path / "pipe",
        tmp_path / "short.qcow2",
        Path("/dev/zero"),
    ):
        assert images.backing_chain(odd) == []
    loop = tmp_path / "loop.qcow2"
    qimg("create", "-f", "qcow2", "-b", "loop.qcow2", "-F", "qcow2", "-u", str(loop), "1M")
    assert images.backing_chain(loop) == []
    gone = tmp_path / "gone.qcow2"
    qimg("create", "-f", "qcow2", "-b", "nothing.img", "-F", "raw", "-u", str(gone), "1M")
    assert images.backing_chain(gone) == [tmp_path / "nothing.img"]


def test_backing_chain_counts_file_and_json_names_but_not_the_network(tmp_path: Path) -> None:
    def made(name: str) -> list[Path]:
        top = tmp_path / "t.qcow2"
        top.unlink(missing_ok=True)
        qimg("create", "-f", "qcow2", "-b", name, "-F", "raw", "-u", str(top), "1M")
        return images.backing_chain(top)

    assert made('json:{"driver":"raw","file":{"filename":"/etc/hostname"}}') == [
        Path("/etc/hostname").resolve()
    ]
    assert made("file:/etc/hostname") == [Path("/etc/hostname").resolve()]
    assert made("nbd://127.0.0.1:1/x") == []


# -- storage makes disks from the facts, 0600 -------------------------------------


class LocalHost:
    """Enough of a local Host for storage: no libvirt here (the refresh is skipped)."""

    is_local = True
    is_test_driver = False
    uri = "qemu:///system"

    def call(self, _what: str, _fn: Any, **_kw: Any) -> Any:
        raise VirtdeckError("no libvirt in this test")


@pytest.fixture
def host() -> Iterator[Host]:
    yield cast(Host, LocalHost())


def test_an_overlay_and_a_copy_are_made_from_the_facts(tmp_path: Path, host: Host) -> None:
    base = look(raw(tmp_path / "base.img", 4 << 20, b"\x42"))
    storage.create_overlay(host, base, tmp_path / "top.qcow2")
    storage.copy_image(host, base, tmp_path / "copy.qcow2")
    top = look(tmp_path / "top.qcow2")
    assert top.backing == base and top.virtual_size == 4 << 20
    copy = look(tmp_path / "copy.qcow2")
    assert (copy.format, copy.backing, copy.virtual_size) == ("qcow2", None, 4 << 20)
    for made in ("top.qcow2", "copy.qcow2"):
        assert (tmp_path / made).stat().st_mode & 0o777 == 0o600, made


def test_a_copy_with_progress_is_0600_too(tmp_path: Path, host: Host) -> None:
    base = look(raw(tmp_path / "base.img", 4 << 20))
    seen: list[int] = []
    storage.copy_image(host, base, tmp_path / "copy.qcow2", progress=seen.append)
    assert seen[-1] == 100
    assert (tmp_path / "copy.qcow2").stat().st_mode & 0o777 == 0o600
