"""``vm create``: which option mixes make sense, and the disks a new VM gets.

Every refusal happens before anything is made, in one sentence naming the
request fields involved (with ``opt``: the CLI shows its options). The disks come in a fixed layout:

- ``vda`` (virtio, boot order 1): the linked clone, the copy, the imported
  disk, or the new empty disk an installer writes to;
- ``sda`` (SATA CD-ROM, boot order 2) with ``iso``: SATA is what
  virt-install gives installers on q35 and every installer has an AHCI
  driver. SeaBIOS finds no boot signature on the empty disk and falls
  through to the CD; once the installer has written a boot loader the disk
  boots first, with no change to the definition;
- the cloud-init seed (virtio-SCSI CD-ROM, not bootable), after those: cloud
  kernels such as Debian's ``-cloud-amd64`` have virtio-SCSI built in but no
  AHCI driver, so a seed on SATA would be invisible to them.
"""

from __future__ import annotations

from pathlib import Path

from virtdeck.errors import InvalidInput, opt
from virtdeck.host import images, seed, storage
from virtdeck.host.connection import Host
from virtdeck.model import NewDisk, disk_file_name

from . import limits
from .schemas import USER_DATA_MAX_BYTES, VmCreate

MIN_DISK_BYTES = 2**20


def check_request(req: VmCreate) -> None:
    """InvalidInput for options that contradict each other or cannot work.

    Reads no file: the paths are checked against the allowed places after
    this, and only then is the CD's header read (``check_files``).
    """
    _check_counts(req)
    given = [field for field, value in _sources(req) if value]
    if len(given) != 1:
        named = " and ".join(opt(field) for field in given)
        said = (
            f"{named} both say where the VM's disk comes from"
            if len(given) > 1
            else "the VM needs a disk"
        )
        raise InvalidInput(
            f"{said}; give exactly one of {opt('image')} BASE, {opt('iso')} FILE (with "
            f"{opt('disk_size_bytes')}) or {opt('import_disk')} FILE",
            # The one that contradicts the first; none to point at when all are missing.
            field=given[-1] if given else None,
        )
    if req.full_copy and not req.image:
        raise InvalidInput(f"{opt('full_copy')} only applies to {opt('image')}", field="full_copy")
    _check_disk_size(req)
    if req.iso and req.graphics == "none":
        raise InvalidInput(
            f"an installer from {opt('iso')} needs a screen, so {opt('graphics')} none is "
            f"refused; keep the default vnc (on 127.0.0.1) or give {opt('graphics')} spice",
            field="graphics",
        )
    for text in req.ssh_keys:
        seed.public_keys(text)
    if req.user_data is not None and len(req.user_data.encode()) >= USER_DATA_MAX_BYTES:
        raise InvalidInput(
            f"{opt('user_data')} is 1 MiB or larger; a cloud-init seed must stay below",
            field="user_data",
        )
    if req.hostname is not None:
        seed.check_hostname(req.hostname)
    elif req.wants_seed:
        seed.check_hostname(req.name, given=False)


def check_files(req: VmCreate) -> None:
    """What the request's files must be, once they are known to lie in allowed places."""
    if req.iso:
        seed.check_cd_image(Path(req.iso))


def _check_counts(req: VmCreate) -> None:
    cpus, max_cpus = opt("cpus"), opt("max_cpus")
    memory, max_memory = opt("memory_bytes"), opt("max_memory_bytes")
    if req.cpus < 1:
        raise InvalidInput(f"{cpus} must be at least 1", field="cpus")
    if req.max_cpus is not None and req.max_cpus < req.cpus:
        raise InvalidInput(
            f"{max_cpus} ({req.max_cpus}) is below {cpus} ({req.cpus}); "
            f"raise {max_cpus} or lower {cpus}",
            field="max_cpus",
        )
    if req.memory_bytes < limits.MIN_MEMORY_BYTES:
        raise InvalidInput(f"{memory} must be at least 16M", field="memory_bytes")
    if req.max_memory_bytes is not None and req.max_memory_bytes < req.memory_bytes:
        raise InvalidInput(
            f"{max_memory} is below {memory}; raise {max_memory} or lower {memory}",
            field="max_memory_bytes",
        )
    if (
        req.graphics != "none"
        and req.graphics_listen not in ("127.0.0.1", "::1", "localhost")
        and not req.graphics_password
    ):
        raise InvalidInput(
            f"graphics listening on {req.graphics_listen} would let anyone on the network see "
            f"and type into the console; give {opt('graphics_password')}, or keep the default "
            "127.0.0.1",
            field="graphics_listen",
        )


def _sources(req: VmCreate) -> list[tuple[str, str | None]]:
    """The fields that say where the VM's disk comes from, with their values."""
    return [("image", req.image), ("iso", req.iso), ("import_disk", req.import_disk)]


def _check_disk_size(req: VmCreate) -> None:
    size = req.disk_size_bytes
    disk_size, full_copy = opt("disk_size_bytes"), opt("full_copy")
    if req.iso and size is None:
        raise InvalidInput(
            f"{opt('iso')} installs onto a new empty disk; give its size with {disk_size}",
            field="disk_size_bytes",
        )
    if size is None:
        return
    if req.import_disk:
        raise InvalidInput(
            f"{disk_size} makes no sense with {opt('import_disk')}, which boots the disk as it "
            f"is; grow it with 'qemu-img resize' first, or drop {disk_size}",
            field="disk_size_bytes",
        )
    if req.full_copy:
        raise InvalidInput(
            f"{disk_size} cannot grow a {full_copy} disk; drop {full_copy} for a linked clone "
            f"of that size, or drop {disk_size}",
            field="disk_size_bytes",
        )
    if size < MIN_DISK_BYTES:
        raise InvalidInput(f"{disk_size} must be at least 1M", field="disk_size_bytes")


def make_disks(
    host: Host,
    pool_dir: Path | None,
    req: VmCreate,
    vm_uuid: str,
    claimed: storage.Claimed,
    progress: storage.Progress | None = None,
    *,
    check_place: images.PlaceCheck,
    limits: images.ImageLimits,
) -> list[NewDisk]:
    """Make the VM's files and describe its disks.

    An image the user names (``import_disk``, ``image``) is inspected
    first (``images.inspect``: where it lies, its format from its header, its
    backing chain); nothing is made for one that is refused. Each file is
    passed to ``claimed`` the moment it exists, before it is filled, so
    whoever undoes a failed or interrupted create knows it.
    """
    if req.import_disk:
        # VmCreate has no format option: the header decides (a format given
        # later becomes ``declared``).
        disk = images.inspect(
            Path(req.import_disk),
            check_place=check_place,
            limits=limits,
            what=opt("import_disk"),
        )
        vda = NewDisk(path=str(disk.path), format=disk.format)
    else:
        assert pool_dir is not None
        path = pool_dir / disk_file_name(req.name, vm_uuid, "vda", "qcow2")
        if req.iso:
            assert req.disk_size_bytes is not None
            storage.create_empty(host, path, req.disk_size_bytes, claimed=claimed)
        else:
            assert req.image is not None
            # Said first: no use judging a base that cannot be used on this host.
            storage.require_local(host, "create a disk")
            base = images.inspect(
                Path(req.image), check_place=check_place, limits=limits, what=opt("image")
            )
            if req.full_copy:
                storage.copy_image(host, base, path, claimed=claimed, progress=progress)
            else:
                storage.create_overlay(host, base, path, req.disk_size_bytes, claimed=claimed)
        vda = NewDisk(path=str(path), format="qcow2")
    seed_path = None
    if req.wants_seed:
        assert pool_dir is not None
        seed_path = pool_dir / disk_file_name(req.name, vm_uuid, "seed", "iso")
        meta, user = seed_files(req, f"iid-{vm_uuid}")
        seed.write_seed(host, seed_path, meta, user, claimed=claimed)
    return disk_layout(req, vda, seed_path)


def disk_layout(req: VmCreate, vda: NewDisk, seed_path: Path | None) -> list[NewDisk]:
    """The VM's disks in the layout the module's docstring explains."""
    vda.boot_order = 1
    disks = [vda]
    cd_targets = iter(["sda", "sdb"])
    if req.iso:
        disks.append(
            NewDisk(
                path=str(Path(req.iso).resolve()),
                format="raw",
                device="cdrom",
                bus="sata",
                target=next(cd_targets),
                boot_order=2,
            )
        )
    if seed_path is not None:
        disks.append(
            NewDisk(
                path=str(seed_path),
                format="raw",
                device="cdrom",
                bus="scsi",
                target=next(cd_targets),
            )
        )
    return disks


def seed_files(req: VmCreate, instance_id: str) -> tuple[str, str]:
    """meta-data and user-data: the user's user-data as is, else a small #cloud-config."""
    hostname = req.hostname or req.name
    keys = [line for text in req.ssh_keys for line in seed.public_keys(text)]
    meta = seed.meta_data(instance_id, hostname, keys)
    user = req.user_data if req.user_data is not None else seed.cloud_config(hostname, keys)
    return meta, user
