"""NoCloud seeds for cloud-init, and the checks on CD images a VM boots from.

A NoCloud seed is an ISO 9660 volume labelled ``cidata`` holding two files,
``meta-data`` and ``user-data``. It is written here with pycdlib, so no
genisoimage or xorriso is needed. Rock Ridge and Joliet names carry the
lowercase file names: plain ISO 9660 level 1-3 names are upper case, and a
guest mounting the CD without the extensions would look for ``meta-data`` in
vain.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import BinaryIO

from virtdeck.errors import Conflict, Hint, InvalidInput, OperationFailed, Unsupported, opt
from virtdeck.model import quote

from .connection import Host
from .storage import Claimed

VOLUME_ID = "cidata"
# Key types OpenSSH writes to a .pub file (options before the type are allowed
# in authorized_keys but not in a .pub file, and not here).
_KEY_LINE = re.compile(
    r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|"
    r"sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s+[A-Za-z0-9+/]{16,}={0,3}(\s+\S.*)?$"
)
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_ISO_MAGIC_OFFSET = 16 * 2048 + 1  # "CD001" in the first volume descriptor


def public_keys(text: str) -> list[str]:
    """The key lines of an OpenSSH public key file; InvalidInput for anything else."""
    if "PRIVATE KEY" in text:
        raise InvalidInput(
            f"{opt('ssh_keys')} was given a private key; give the public half (the .pub file) "
            "instead",
            field="ssh_keys",
        )
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines or not all(_KEY_LINE.match(ln) for ln in lines):
        raise InvalidInput(
            f"{opt('ssh_keys')} does not look like an SSH public key; give a .pub file whose "
            "lines read like 'ssh-ed25519 AAAA... user@host'",
            field="ssh_keys",
        )
    return lines


def check_hostname(name: str, given: bool = True) -> None:
    labels = name.split(".")
    if len(name) <= 253 and all(_LABEL.match(label) for label in labels):
        return
    if given:
        raise InvalidInput(
            f"{opt('hostname')} {quote(name)} is not a valid host name: use labels of letters, "
            "digits and '-' (not at either end), at most 63 characters each, joined by '.'",
            field="hostname",
        )
    # The VM's name is fine as a name; what is missing is a host name to use instead.
    raise InvalidInput(
        f"the VM name {quote(name)} cannot be the guest's host name (host names allow letters, "
        f"digits, '-' and '.'); give {opt('hostname')}",
        field="hostname",
    )


def meta_data(instance_id: str, hostname: str, keys: list[str]) -> str:
    # cloud-init also takes 'public-keys' from meta-data, so a key reaches the
    # guest's default user even when the user-data is the user's own file.
    lines = [f"instance-id: {instance_id}", f"local-hostname: {hostname}"]
    if keys:
        lines.append("public-keys:")
        lines += [f"  - {json.dumps(k)}" for k in keys]
    return "\n".join(lines) + "\n"


def cloud_config(hostname: str, keys: list[str]) -> str:
    """The user-data written when the user gave none: JSON strings are valid YAML."""
    lines = ["#cloud-config", f"hostname: {hostname}"]
    if keys:
        lines.append("ssh_authorized_keys:")
        lines += [f"  - {json.dumps(k)}" for k in keys]
    return "\n".join(lines) + "\n"


def write_seed_image(fh: BinaryIO, meta: str, user: str) -> None:
    """Write a NoCloud seed ISO with these two files to ``fh``."""
    # pycdlib loads only when a seed is made, not with every command.
    import pycdlib  # noqa: PLC0415

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09", joliet=3, vol_ident=VOLUME_ID)
    try:
        for iso_name, name, text in (
            ("/METADATA.;1", "meta-data", meta),
            ("/USERDATA.;1", "user-data", user),
        ):
            data = text.encode()
            iso.add_fp(io.BytesIO(data), len(data), iso_name, rr_name=name, joliet_path=f"/{name}")
        iso.write_fp(fh)
    finally:
        iso.close()


def write_seed(
    host: Host,
    path: Path,
    meta: str,
    user: str,
    claimed: Claimed | None = None,
) -> None:
    """Write the seed ISO to ``path``, which must not exist yet; mode 0600.

    ``claimed`` hears of the file as soon as it exists.
    """
    if not host.is_local or host.is_test_driver:
        raise Unsupported(
            f"cannot write a cloud-init seed on {host.uri}: virtdeck makes files only on the "
            "local host for now; run it on that host"
        )
    try:
        # O_EXCL: a file of that name (another VM's seed) is never overwritten;
        # 0600 from the first byte: the seed holds keys and user-data.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            if claimed is not None:
                claimed(path)
            write_seed_image(fh, meta, user)
    except FileExistsError as exc:
        raise Conflict(
            f"{path} already exists and virtdeck never overwrites a file; "
            "the list of VMs and 'virsh vol-list' show whose it may be",
            hint=Hint("vm.list"),
        ) from exc
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise OperationFailed(f"cannot write the cloud-init seed {path}: {exc.strerror}") from exc
    # Whatever the umask did; libvirt's dynamic ownership gives QEMU's user
    # access while the VM runs.
    os.chmod(path, 0o600)


def check_cd_image(path: Path) -> None:
    """InvalidInput unless ``path`` is a readable ISO 9660 image (hybrid ISOs are)."""
    iso = opt("iso")
    if not path.is_file():
        raise InvalidInput(
            f"{iso} {path} is not a file; give the path of a CD image (.iso)", field="iso"
        )
    try:
        with open(path, "rb") as fh:
            fh.seek(_ISO_MAGIC_OFFSET)
            magic = fh.read(5)
    except OSError as exc:
        raise InvalidInput(f"cannot read {iso} {path}: {exc.strerror}", field="iso") from exc
    if magic != b"CD001":
        raise InvalidInput(
            f"{iso} {path} is not an ISO 9660 CD image; give an installer .iso, "
            f"or boot a disk image with {opt('import_disk')}",
            field="iso",
        )
