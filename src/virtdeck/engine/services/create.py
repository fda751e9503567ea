"""``vm create``: a new VM from an image, a CD or an existing disk.

A create is an operation (see services/operations.py): each step shows in its row,
each file is recorded the moment it exists, and a create that fails, or
whose process dies, leaves no definition and no disk behind.
"""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

from virtdeck.errors import Conflict, InvalidInput, opt
from virtdeck.host import disk_users, domains, images, networks, places, storage
from virtdeck.model import InvalidName, NewDomain, build_domain, check_name

from .. import create_plan, limits
from ..context import HostContext
from ..definitions import Definitions
from ..meta import META_BASE_IMAGE, META_CREATED_BY, META_CREATED_DISKS, META_INSTALL_ISO
from ..schemas import OperationInfo, VmCreate, VmDetail
from .hostinfo import HostService
from .operation_run import OperationRun
from .operations import OperationService
from .vms import VmService


class CreateService:
    def __init__(
        self,
        ctx: HostContext,
        defs: Definitions,
        ops: OperationService,
        hostinfo: HostService,
        vms: VmService,
    ) -> None:
        self.ctx = ctx
        self.defs = defs
        self.ops = ops
        self.hostinfo = hostinfo
        self.vms = vms
        self.host = ctx.host
        self.settings = ctx.settings

    def create_vm(self, req: VmCreate) -> VmDetail:
        """Create and wait: the new VM, or the error the create ended with."""
        return self.ops.result(self.submit_create(req).id, VmDetail)

    def submit_create(self, req: VmCreate) -> OperationInfo:
        """Check the request, then start the create; its operation at once."""
        try:
            check_name(req.name)
        except InvalidName as exc:
            raise InvalidInput(str(exc), field="name") from exc
        create_plan.check_request(req)
        # Before anything reads the files or is made: a path outside the
        # pools is refused unread.
        for field, given in (
            ("iso", req.iso),
            ("import_disk", req.import_disk),
            ("image", req.image),
        ):
            if given:
                self.ctx.check_place(Path(given), opt(field))
        create_plan.check_files(req)
        if domains.exists(self.host, req.name):
            raise self._exists(req.name)

        def work(run: OperationRun) -> VmDetail:
            # Again under the lock: another create may have taken the name meanwhile.
            if domains.exists(self.host, req.name):
                raise self._exists(req.name)
            self._create_locked(req, run)
            return self.vms.get_vm(req.name)

        return self.ops.submit(
            "create",
            req.name,
            "checking the host's limits",
            work,
            hold=lambda: self.ctx.lock_name(req.name, "create"),
        )

    def _exists(self, name: str) -> Conflict:
        return Conflict(
            f"a VM named {name!r} already exists on {self.host.uri}; "
            "pick another name or delete it first",
            field="name",
        )

    def _create_locked(self, req: VmCreate, run: OperationRun) -> None:
        accel = self.hostinfo.acceleration()
        # Nothing is made for a VM the host could never run.
        memory_field = "max_memory_bytes" if req.max_memory_bytes else "memory_bytes"
        limits.check_memory(
            self.host,
            req.max_memory_bytes or req.memory_bytes,
            opt(memory_field),
            field=memory_field,
        )
        cpus_field = "max_cpus" if req.max_cpus else "cpus"
        limits.check_vcpus(
            self.host,
            req.max_cpus or req.cpus,
            accel.domain_type,
            opt(cpus_field),
            field=cpus_field,
        )
        self._check_references(req)
        created: list[Path] = []

        def claimed(path: Path) -> None:
            created.append(path)
            run.made_file(path)

        vm_uuid = str(uuidlib.uuid4())
        pool_dir = None
        if req.image or req.iso or req.wants_seed:
            run.step("preparing the storage pool", 5)
            pool_dir = storage.ensure_default_pool(
                self.host, self.settings.images_dir, self.settings.pool
            )
        run.step(_disk_step(req), 10)
        disks = create_plan.make_disks(
            self.host,
            pool_dir,
            req,
            vm_uuid,
            claimed,
            # A full copy is the long part: 10% to 80% of the whole.
            progress=lambda pct: run.step(_disk_step(req), 10 + pct * 70 // 100),
            check_place=self.ctx.check_place,
            limits=images.ImageLimits(max_virtual_bytes=self.settings.max_image_bytes),
        )
        networks = req.networks if req.networks is not None else self._default_networks()
        log_path = self.settings.serial_log_dir / f"{req.name}-serial0.log"
        spec = NewDomain(
            name=req.name,
            domain_type=accel.domain_type,
            cpu_mode=accel.cpu_mode,
            vcpus=req.cpus,
            max_vcpus=req.max_cpus or req.cpus,
            memory_kib=req.memory_bytes // 1024,
            max_memory_kib=(req.max_memory_bytes or req.memory_bytes) // 1024,
            disks=disks,
            networks=networks,
            graphics=req.graphics,
            graphics_listen=req.graphics_listen,
            graphics_password=req.graphics_password,
            serial_log=str(log_path),
            boot=[],
            uuid=vm_uuid,
            metadata={META_CREATED_BY: "virtdeck vm create"},
        )
        model = build_domain(spec)
        model.set_meta_list(META_CREATED_DISKS, [str(p) for p in created])
        if req.image:
            model.set_meta(META_BASE_IMAGE, str(Path(req.image).resolve()))
        if req.iso:
            model.set_meta(META_INSTALL_ISO, str(Path(req.iso).resolve()))
        run.step("defining the VM", 85)
        # Recorded first: the UUID is new, so nothing else can own it, and a
        # crash right after the define still finds it.
        run.made_domain(vm_uuid)
        handle = self.defs.redefine(model.to_xml(), "create")
        if req.autostart:
            handle.set_autostart(True)
        if req.start:
            run.step("starting the VM", 90)
            domains.start(self.host, req.name)
        run.release()

    def _check_references(self, req: VmCreate) -> None:
        """Everything the new VM refers to exists and may be used, before anything is made.

        A VM whose network is a typo would be defined and fail only at its
        first start; one whose disk another VM uses would corrupt it.
        """
        for network in req.networks or []:
            networks.check_network(self.host, network, must_be_active=req.start)
        if req.import_disk:
            # Its place was checked in create_vm; uses are matched by resolved path.
            disk_users.refuse_if_used(
                self.host,
                Path(req.import_disk),
                opt("import_disk"),
                f"give the new VM its own disk: {opt('image')} FILE makes a linked clone "
                "that leaves FILE as it is",
            )
        if req.image and not req.full_copy:
            disk_users.refuse_if_written(
                self.host,
                Path(req.image),
                opt("image"),
                f"stop that VM and clone it, or give {opt('full_copy')}",
            )
        size = req.disk_size_bytes
        if size is not None and (req.iso or req.image):
            places.check_fits(self.host, self.settings.pool, size, opt("disk_size_bytes"))

    def _default_networks(self) -> list[str]:
        return ["default"] if networks.exists(self.host, "default") else []


def _disk_step(req: VmCreate) -> str:
    if req.import_disk:
        return f"checking the disk {req.import_disk}"
    if req.iso:
        return "creating an empty disk"
    if req.full_copy:
        return f"copying {req.image}"
    return f"creating an overlay on {req.image}"
