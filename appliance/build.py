#!/usr/bin/env python3
"""Build the virtdeck test appliance: a small qcow2 disk that boots by itself.

The image holds an MBR, the syslinux bootloader and one FAT partition with a
Debian cloud kernel and a busybox initramfs (the files under ``rootfs/``).
Everything comes from Debian's packages: the kernel and busybox-static are
downloaded and unpacked (never installed on the host); syslinux, mtools and
dosfstools run on the host to lay out the disk.

The build is cached: the output directory keeps a stamp of every input (the
files here and the exact package versions) and a second run with the same
inputs returns at once. Standard library only, so it runs before virtdeck is
installed.

Usage: build.py [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = Path(os.environ.get("VIRTDECK_APPLIANCE_DIR", "/var/lib/virtdeck/appliance"))
KERNEL_META = "linux-image-cloud-amd64"
BUSYBOX = "busybox-static"
HOST_TOOLS = {
    "syslinux": "syslinux",
    "mcopy": "mtools",
    "mkfs.vfat": "dosfstools",
    "sfdisk": "fdisk",
    "qemu-img": "qemu-utils",
    "cpio": "cpio",
    "depmod": "kmod",
}
# Modules the guest loads; modprobe pulls in what they depend on.
MODULES = [
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_balloon",
    "virtio_scsi",
    "virtio_console",
    "virtio_rng",
    "sr_mod",
    "sd_mod",
    "isofs",
    "ata_piix",
    "button",
    "evdev",
]
DISK_MIB = 64
PART_START_SECTOR = 2048  # 1 MiB, the usual alignment
SYSLINUX_CFG = """\
SERIAL 0 115200
DEFAULT appliance
PROMPT 0
TIMEOUT 0
LABEL appliance
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=tty0 console=ttyS0,115200 quiet loglevel=3 panic=-1
"""


def say(msg: str) -> None:
    print(f"appliance: {msg}", flush=True)


def die(msg: str) -> None:
    print(f"appliance: error: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def run(*cmd: str | Path, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    argv = [str(c) for c in cmd]
    proc = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        die(f"{' '.join(map(str, cmd))} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode(errors="replace")


def candidate_version(package: str) -> str:
    out = run("apt-cache", "policy", package)
    for raw in out.splitlines():
        line = raw.strip()
        if line.startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                return version
    die(f"Debian package {package} is not available; run 'apt-get update' and retry")
    raise AssertionError


def kernel_package() -> str:
    out = run("apt-cache", "depends", KERNEL_META)
    for raw in out.splitlines():
        line = raw.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split(":", 1)[1].strip()
    die(f"cannot find the kernel that {KERNEL_META} points to; run 'apt-get update'")
    raise AssertionError


def inputs_digest(packages: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(HERE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(HERE)).encode())
            h.update(path.read_bytes())
            h.update(oct(path.stat().st_mode & 0o111).encode())
    h.update(json.dumps(packages, sort_keys=True).encode())
    return h.hexdigest()


def unpack(package: str, dest: Path, work: Path) -> None:
    # apt-get download drops privileges to _apt; give it a directory it may write.
    dl = work / "debs"
    dl.mkdir(exist_ok=True)
    os.chmod(dl, 0o777)
    run("apt-get", "download", "-q", package, cwd=dl)
    debs = sorted(dl.glob(f"{package.split('=', maxsplit=1)[0]}_*.deb"))
    if not debs:
        die(f"apt-get download {package} produced no .deb")
    run("dpkg-deb", "-x", debs[-1], dest)


def module_closure(moddir: Path, wanted: list[str]) -> tuple[list[str], list[str]]:
    """Return (module files to copy, the trimmed modules.dep lines)."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
        name = Path(path).name.split(".ko")[0].replace("-", "_")
        by_name[name] = path
    chosen: list[str] = []

    def add(path: str) -> None:
        if path in chosen:
            return
        for dep in deps.get(path, []):
            add(dep)
        chosen.append(path)

    for name in wanted:
        if name in by_name:
            add(by_name[name])
        # A module missing here is built into this kernel: nothing to load.
    dep_lines = [f"{p}: {' '.join(deps[p])}".rstrip() for p in chosen]
    return chosen, dep_lines


def build_initramfs(work: Path, kernel_root: Path, busybox_root: Path) -> tuple[Path, Path]:
    moddirs = sorted((kernel_root / "lib/modules").iterdir())
    if not moddirs:
        die("the kernel package holds no modules")
    kver = moddirs[-1].name
    # The package ships no modules.dep (its postinst makes one): make it here.
    run("depmod", "-b", kernel_root, kver)
    vmlinuz = kernel_root / "boot" / f"vmlinuz-{kver}"
    root = work / "initramfs"
    shutil.copytree(HERE / "rootfs", root, symlinks=True)
    for d in ("bin", "sbin", "proc", "sys", "dev", "run", "tmp", "root", "mnt/seed", "etc"):
        (root / d).mkdir(parents=True, exist_ok=True)
    busybox = root / "bin/busybox"
    shutil.copy2(busybox_root / "bin/busybox", busybox)
    for applet in run(busybox, "--list").split():
        link = root / "bin" / applet
        if not link.exists() and not (root / "sbin" / applet).exists():
            link.symlink_to("busybox")
    # busybox init looks for /sbin/init.
    (root / "sbin/init").symlink_to("../bin/busybox")
    files, dep_lines = module_closure(moddirs[-1], MODULES)
    target = root / "lib/modules" / kver
    for rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(moddirs[-1] / rel, target / rel)
    (target / "modules.dep").write_text("\n".join(dep_lines) + "\n")
    (root / "etc/appliance-modules").write_text(" ".join(MODULES) + "\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    listing = "\n".join(str(p.relative_to(root)) for p in sorted(root.rglob("*"))) + "\n"
    cpio = run_bytes(
        ["cpio", "--quiet", "-o", "-H", "newc", "--owner", "0:0"],
        cwd=root,
        stdin=(".\n" + listing).encode(),
    )
    initrd = work / "initrd.gz"
    with open(initrd, "wb") as fh:
        proc = subprocess.run(["gzip", "-9n"], input=cpio, stdout=fh, check=False)
    if proc.returncode != 0:
        die("gzip of the initramfs failed")
    return vmlinuz, initrd


def run_bytes(cmd: list[str], cwd: Path, stdin: bytes) -> bytes:
    proc = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        die(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def syslinux_mbr() -> Path:
    for candidate in ("/usr/lib/syslinux/mbr/mbr.bin", "/usr/lib/SYSLINUX/mbr.bin"):
        if Path(candidate).is_file():
            return Path(candidate)
    die("syslinux's mbr.bin is missing; install Debian's syslinux-common")
    raise AssertionError


def build_disk(work: Path, vmlinuz: Path, initrd: Path, out: Path) -> None:
    part_sectors = DISK_MIB * 2048 - PART_START_SECTOR
    part = work / "part.img"
    with open(part, "wb") as fh:
        fh.truncate(part_sectors * 512)
    run("mkfs.vfat", "-n", "APPLIANCE", part)
    cfg = work / "syslinux.cfg"
    cfg.write_text(SYSLINUX_CFG)
    env_copy = ["mcopy", "-i", str(part)]
    run(*env_copy, vmlinuz, "::/vmlinuz")
    run(*env_copy, initrd, "::/initrd.gz")
    run(*env_copy, cfg, "::/syslinux.cfg")
    # syslinux writes ldlinux.sys/ldlinux.c32 and the FAT boot sector, through
    # mtools, so no loop device or mount is needed.
    run("syslinux", "--install", part)
    disk = work / "disk.raw"
    with open(disk, "wb") as fh:
        fh.truncate(DISK_MIB * 1024 * 1024)
    run(
        "sfdisk",
        "--quiet",
        disk,
        stdin=f"label: dos\nstart={PART_START_SECTOR}, type=c, bootable\n".encode(),
    )
    with open(disk, "r+b") as fh:
        fh.write(syslinux_mbr().read_bytes()[:440])
        fh.seek(PART_START_SECTOR * 512)
        with open(part, "rb") as src:
            shutil.copyfileobj(src, fh)
    tmp_out = out.with_suffix(".qcow2.tmp")
    run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", disk, tmp_out)
    os.chmod(tmp_out, 0o644)
    os.replace(tmp_out, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = parser.parse_args()
    out_dir: Path = args.out
    for tool, pkg in HOST_TOOLS.items():
        if shutil.which(tool) is None:
            die(f"'{tool}' is missing; install Debian's {pkg} (the setup script does)")
    kernel_pkg = kernel_package()
    packages = {
        kernel_pkg: candidate_version(kernel_pkg),
        BUSYBOX: candidate_version(BUSYBOX),
        "syslinux": candidate_version("syslinux"),
    }
    digest = inputs_digest(packages)
    image = out_dir / "appliance.qcow2"
    stamp = out_dir / "appliance.json"
    if not args.force and image.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("digest") == digest:
                say(f"up to date: {image}")
                return 0
        except ValueError:
            pass
    started = time.monotonic()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(out_dir, 0o755)
    except OSError as exc:
        die(f"cannot write to {out_dir} ({exc.strerror}); pass --out DIR with a writable directory")
    say(f"building from {kernel_pkg} {packages[kernel_pkg]} and busybox {packages[BUSYBOX]}")
    with tempfile.TemporaryDirectory(prefix="virtdeck-appliance-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        kernel_root, busybox_root = work / "kernel", work / "busybox"
        unpack(kernel_pkg, kernel_root, work)
        unpack(BUSYBOX, busybox_root, work)
        vmlinuz, initrd = build_initramfs(work, kernel_root, busybox_root)
        build_disk(work, vmlinuz, initrd, image)
        # The bare kernel is kept for the host's KVM probe (virtdeck host check).
        shutil.copy2(vmlinuz, out_dir / "vmlinuz")
        os.chmod(out_dir / "vmlinuz", 0o644)
    stamp.write_text(
        json.dumps(
            {
                "digest": digest,
                "packages": packages,
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=2,
        )
        + "\n"
    )
    size_mib = image.stat().st_size / 2**20
    say(f"built {image} ({size_mib:.1f} MiB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
