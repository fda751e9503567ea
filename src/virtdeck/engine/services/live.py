"""Live changes: vCPUs, memory, disks and NICs of a VM, running or not.

As in virsh, a change goes to the running guest (live), to the definition
(config, used from the next start), or to both. With neither flag a running
VM gets both, so nothing is lost at its next restart, and a stopped VM its
definition. The live half goes first: when QEMU or the guest refuses it, the
definition is left as it was. The definition only changes through
``redefine``, so the history keeps every version.
"""

from __future__ import annotations

from virtdeck.errors import Hint, InvalidInput, Unsupported
from virtdeck.model import Domain, format_size, to_kib
from virtdeck.model.spec import exact_size

from .. import limits
from ..context import HostContext
from ..definitions import Definitions
from ..schemas import LiveChange
from .devices import refuse_running, scope


class LiveService:
    """vCPUs and memory; disks and NICs are the device service's."""

    def __init__(self, ctx: HostContext, defs: Definitions) -> None:
        self.ctx = ctx
        self.defs = defs
        self.host = ctx.host

    # -- vCPUs ----------------------------------------------------------------
    def set_cpus(
        self, name: str, count: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        if count < 1:
            raise InvalidInput(f"the vCPU count must be at least 1, not {count}", field="count")
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "set-cpus"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            live, config = scope(dom, live, config)
            notes: list[str] = []
            if config:
                _check_cpu_max(name, count, model.max_vcpus or 1)
            if live:
                running = self.defs.live_model(dom)
                _check_cpu_max(name, count, running.max_vcpus or 1)
                now = running.vcpus or 1
                if count < now:
                    raise Unsupported(
                        f"VM {name} runs {now} vCPUs and cannot drop to {count} while running "
                        "(vCPU hot-unplug is not supported); change only its definition and "
                        "restart it",
                        field="count",
                        hint=Hint("vm.set-cpus.config", vm=name, args={"count": str(count)}),
                    )
                if count > now:
                    dom.set_vcpus_live(count)
                else:
                    notes.append(f"it already runs {count} vCPUs")
            if config:
                model.vcpus = count
                self.defs.redefine(model.to_xml(), "set-cpus")
        return LiveChange(
            name=name, setting="vcpus", value=count, live=live, config=config, notes=notes
        )

    def set_max_cpus(self, name: str, count: int) -> LiveChange:
        if count < 1:
            raise InvalidInput(
                f"the maximum vCPU count must be at least 1, not {count}", field="count"
            )
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "set-max-cpus"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            refuse_running(
                dom,
                "maximum vCPU count",
                f" (its vCPU count can change up to {model.max_vcpus} while it runs)",
            )
            limits.check_vcpus(self.host, count, model.type or "qemu", "max vCPUs", field="count")
            notes: list[str] = []
            boot = model.vcpus or 1
            model.max_vcpus = count
            model.vcpus = min(boot, count)
            if boot > count:
                notes.append(f"vCPUs at boot lowered from {boot} to {count}")
            self.defs.redefine(model.to_xml(), "set-max-cpus")
        return LiveChange(
            name=name, setting="max_vcpus", value=count, live=False, config=True, notes=notes
        )

    # -- memory ---------------------------------------------------------------
    def _check_memory_size(self, size_bytes: int, what: str) -> None:
        if size_bytes < limits.MIN_MEMORY_BYTES:
            raise InvalidInput(
                f"{what} {format_size(size_bytes)} is too small; give at least 16M",
                field="size_bytes",
            )
        limits.check_memory(self.host, size_bytes, what, field="size_bytes")

    def set_memory(
        self, name: str, size_bytes: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        self._check_memory_size(size_bytes, "memory")
        kib = to_kib(size_bytes)
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "set-memory"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            live, config = scope(dom, live, config)
            if config:
                _check_memory_max(name, size_bytes, model.memory_kib or kib)
            if live:
                _check_memory_max(name, size_bytes, self.defs.live_model(dom).memory_kib or kib)
                dom.set_memory_live(kib)
            if config:
                model.current_memory_kib = kib
                self.defs.redefine(model.to_xml(), "set-memory")
        return LiveChange(name=name, setting="memory", value=kib, live=live, config=config)

    def set_max_memory(self, name: str, size_bytes: int) -> LiveChange:
        self._check_memory_size(size_bytes, "max memory")
        kib = to_kib(size_bytes)
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "set-max-memory"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            refuse_running(dom, "maximum memory")
            notes: list[str] = []
            current = model.memory_current_kib or kib
            model.memory_kib = kib
            model.current_memory_kib = min(current, kib)
            if current > kib:
                notes.append(
                    f"memory at boot lowered from {format_size(current * 1024)} "
                    f"to {format_size(kib * 1024)}"
                )
            self.defs.redefine(model.to_xml(), "set-max-memory")
        return LiveChange(
            name=name, setting="max_memory", value=kib, live=False, config=True, notes=notes
        )


def _check_cpu_max(name: str, count: int, maximum: int) -> None:
    if count > maximum:
        raise InvalidInput(
            f"VM {name} can have at most {maximum} vCPUs; to allow {count}, stop it and raise "
            "its maximum",
            field="count",
            hint=Hint("vm.set-max-cpus", vm=name, args={"count": str(count)}),
        )


def _check_memory_max(name: str, size_bytes: int, maximum_kib: int) -> None:
    if to_kib(size_bytes) > maximum_kib:
        raise InvalidInput(
            f"memory {format_size(size_bytes)} is above VM {name}'s maximum of "
            f"{format_size(maximum_kib * 1024)}; raise the maximum while it is stopped",
            field="size_bytes",
            hint=Hint("vm.set-max-memory", vm=name, args={"size": exact_size(size_bytes)}),
        )
