"""Declarative VMs: ``apply -f vm.yaml`` creates or converges one, ``vm spec`` prints one.

apply first works out a plan, every difference between the spec and the VM
and how it takes effect (live in the running guest, in the definition, at
the next restart, now), and only then acts: the live changes, then one
``redefine`` with every change to the definition (one history version),
then autostart and the power state. A key left out of the spec is not
managed. A spec printed by ``vm spec`` applies with no changes.
"""

from __future__ import annotations

import collections
from pathlib import Path

from virtdeck.errors import Conflict, InvalidInput
from virtdeck.host import domains
from virtdeck.host.handle import DomainHandle
from virtdeck.model import Domain, InvalidName, check_name
from virtdeck.model.spec import (
    exact_size,
    graphics_kind,
    new_nic,
    random_mac,
    set_graphics,
)

from .. import limits
from ..context import HostContext
from ..definitions import Definitions
from ..meta import META_BASE_IMAGE, META_CREATED_DISKS
from ..schemas import ApplyResult, PlanStep, VmCreate, VmSpec
from ..spec_plan import (
    Plan,
    Wanted,
    check_bounds,
    networks_of,
    plan_sizes,
    spec_fields,
)
from .create import CreateService
from .devices import DeviceService, nic_by_mac
from .hostinfo import HostService


class SpecService:
    def __init__(
        self,
        ctx: HostContext,
        defs: Definitions,
        devices: DeviceService,
        creator: CreateService,
        hostinfo: HostService,
    ) -> None:
        self.ctx = ctx
        self.defs = defs
        self.devices = devices
        self.creator = creator
        self.hostinfo = hostinfo
        self.host = ctx.host

    def vm_spec(self, name: str) -> VmSpec:
        dom, model = self.defs.model(name)
        image = model.get_meta(META_BASE_IMAGE)
        created = model.get_meta_list(META_CREATED_DISKS)
        boot = next((d for d in model.disks if d.device in (None, "disk") and d.path), None)
        imported = boot.path if boot is not None and boot.path not in created else None
        return VmSpec.model_validate(
            {
                "name": name,
                "cpus": model.vcpus or 1,
                "max_cpus": model.max_vcpus or 1,
                # Sizes go in as text: a bare number in a spec means MiB.
                "memory": exact_size((model.memory_current_kib or 0) * 1024),
                "max_memory": exact_size((model.memory_kib or 0) * 1024),
                "networks": networks_of(model),
                "graphics": graphics_kind(model),
                "image": image,
                "import_disk": None if image else imported,
                "autostart": dom.autostart(),
                "running": dom.is_active(),
            }
        )

    def apply_spec(self, spec: VmSpec, dry_run: bool = False) -> ApplyResult:
        try:
            check_name(spec.name)
        except InvalidName as exc:
            raise InvalidInput(str(exc), field="name") from exc
        if not domains.exists(self.host, spec.name):
            return self._apply_create(spec, dry_run)
        dom = self.defs.lookup(spec.name)
        with self.ctx.lock_vm(dom, "apply"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            plan = self._plan(spec, dom, model)
            if not dry_run and plan.steps:
                self._execute(spec, dom, model, plan)
            state = None if dry_run else dom.state()
        return ApplyResult(
            name=spec.name,
            created=False,
            steps=plan.steps,
            notes=plan.notes,
            dry_run=dry_run,
            state=state,
        )

    # -- a new VM -------------------------------------------------------------
    def _apply_create(self, spec: VmSpec, dry_run: bool) -> ApplyResult:
        if (spec.image is None) == (spec.import_disk is None):
            raise InvalidInput(
                f"VM {spec.name} does not exist yet; to create it the spec needs exactly one "
                "of 'image: BASE' or 'import_disk: FILE'"
            )
        defaults = VmCreate(name=spec.name)
        req = VmCreate(
            name=spec.name,
            cpus=spec.cpus or defaults.cpus,
            max_cpus=spec.max_cpus,
            memory_bytes=spec.memory or defaults.memory_bytes,
            max_memory_bytes=spec.max_memory,
            networks=spec.networks,
            graphics=spec.graphics or defaults.graphics,
            image=spec.image,
            import_disk=spec.import_disk,
            start=bool(spec.running),
            autostart=bool(spec.autostart),
        )
        check_bounds(spec.name, req.cpus, req.max_cpus or req.cpus, "cpus", "max_cpus")
        check_bounds(
            spec.name,
            req.memory_bytes,
            req.max_memory_bytes or req.memory_bytes,
            "memory",
            "max_memory",
        )
        self._check_limits(req.max_cpus or req.cpus, req.max_memory_bytes or req.memory_bytes)
        steps = [
            PlanStep(key=key, current="-", wanted=str(value), how="create")
            for key, value in spec_fields(spec).items()
            if key != "name"
        ]
        state = None
        if not dry_run:
            state = self.creator.create_vm(req).state
        return ApplyResult(name=spec.name, created=True, steps=steps, dry_run=dry_run, state=state)

    def _check_limits(self, cpus: int, memory_bytes: int, domain_type: str | None = None) -> None:
        kind = domain_type or self.hostinfo.acceleration().domain_type
        limits.check_vcpus(self.host, cpus, kind, "max_cpus", field="max_cpus")
        if memory_bytes:
            limits.check_memory(self.host, memory_bytes, "max_memory", field="max_memory")

    # -- an existing VM -------------------------------------------------------
    def _plan(self, spec: VmSpec, dom: DomainHandle, model: Domain) -> Plan:
        plan = Plan()
        name = spec.name
        self._check_source(spec, model)
        running = dom.is_active()
        if spec.running is False and running:
            plan.stop = True
            plan.steps.append(PlanStep(key="running", current="true", wanted="false", how="stop"))
            running = False
        live = self.defs.live_model(dom) if running else None

        wanted = Wanted.of(spec, model)
        check_bounds(name, wanted.cpus, wanted.max_cpus, "cpus", "max_cpus")
        check_bounds(name, wanted.kib * 1024, wanted.max_kib * 1024, "memory", "max_memory")
        # Only new maximums: a VM defined beyond this host's means (by virsh) is left be.
        if wanted.max_cpus != model.max_vcpus:
            self._check_limits(wanted.max_cpus, 0, model.type)
        if wanted.max_kib != model.memory_kib:
            limits.check_memory(self.host, wanted.max_kib * 1024, "max_memory", field="max_memory")
        plan_sizes(plan, name, model, live, wanted)

        if spec.networks is not None:
            have = collections.Counter(networks_of(model))
            want = collections.Counter(spec.networks)
            plan.addnetworks_of = list((want - have).elements())
            plan.removenetworks_of = list((have - want).elements())
            for network in plan.addnetworks_of:
                self.devices.check_network(network, live is not None)
            if plan.addnetworks_of or plan.removenetworks_of:
                plan.step(
                    "networks",
                    ", ".join(networks_of(model)) or "none",
                    ", ".join(spec.networks) or "none",
                    "live" if live is not None else "config",
                )
        if spec.graphics is not None and spec.graphics != graphics_kind(model):
            plan.step(
                "graphics", graphics_kind(model), spec.graphics, "restart" if live else "config"
            )
        if spec.autostart is not None and spec.autostart != dom.autostart():
            plan.step(
                "autostart", str(not spec.autostart).lower(), str(spec.autostart).lower(), "now"
            )
        if spec.running and not running:
            plan.start = True
            plan.steps.append(PlanStep(key="running", current="false", wanted="true", how="start"))
        return plan

    def _check_source(self, spec: VmSpec, model: Domain) -> None:
        """The disk of an existing VM is never replaced; a different source is an error."""
        name = spec.name
        if spec.image is not None:
            have = model.get_meta(META_BASE_IMAGE)
            if have is None or Path(spec.image).resolve() != Path(have):
                raise Conflict(
                    f"VM {name} exists and was not made from image {spec.image} "
                    f"({'its base is ' + have if have else 'it has no base image'}); apply "
                    "never replaces a disk: fix 'image:' or delete the VM first"
                )
        if spec.import_disk is not None:
            paths = {d.path for d in model.disks}
            if str(Path(spec.import_disk).resolve()) not in paths:
                raise Conflict(
                    f"VM {name} exists and does not use {spec.import_disk}; apply never replaces "
                    "a disk: fix 'import_disk:' or delete the VM first"
                )

    def _execute(self, spec: VmSpec, dom: DomainHandle, model: Domain, plan: Plan) -> None:
        name = spec.name
        if plan.stop:
            domains.stop(self.host, name, timeout=120.0, force=False)
        if plan.live_cpus is not None:
            dom.set_vcpus_live(plan.live_cpus)
        if plan.live_memory_kib is not None:
            dom.set_memory_live(plan.live_memory_kib)
        running = dom.is_active()
        for network in plan.removenetworks_of:
            nic = next(n for n in reversed(model.interfaces) if n.source_network == network)
            mac = nic.mac or ""
            attached = self.defs.live_model(dom) if running else None
            live_nic = nic_by_mac(attached, mac) if attached is not None else None
            if live_nic is not None:
                self.devices.detach(dom, live_nic.to_xml(), f"NIC {mac}", nic_by_mac, mac)
            model.remove_device(nic)
        used = {n.mac for n in model.interfaces}
        for network in plan.addnetworks_of:
            mac = random_mac()
            while mac in used:
                mac = random_mac()
            used.add(mac)
            if running:
                xml = new_nic(network, mac, "virtio").to_xml()
                self.devices.attach(dom, xml, f"add a NIC on {network} to VM {name}")
            model.add_device(new_nic(network, mac, "virtio"))
        if plan.config:
            self._converge_definition(spec, model)
            self.defs.redefine(model.to_xml(), "apply")
        if spec.autostart is not None and spec.autostart != dom.autostart():
            dom.set_autostart(spec.autostart)
        if plan.start:
            domains.start(self.host, name)

    @staticmethod
    def _converge_definition(spec: VmSpec, model: Domain) -> None:
        wanted = Wanted.of(spec, model)
        model.max_vcpus = wanted.max_cpus
        model.vcpus = wanted.cpus
        model.memory_kib = wanted.max_kib
        model.current_memory_kib = wanted.kib
        if spec.graphics is not None and spec.graphics != graphics_kind(model):
            set_graphics(model, spec.graphics)
