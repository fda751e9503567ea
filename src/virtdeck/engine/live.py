"""Live changes: vCPUs, memory, disks and NICs of a VM, running or not.

As in virsh, a change goes to the running guest (live), to the definition
(config, used from the next start), or to both. With neither flag a running
VM gets both, so nothing is lost at its next restart, and a stopped VM its
definition. The live half goes first: when QEMU or the guest refuses it, the
definition is left as it was. The definition only changes through
``redefine``, so the history keeps every version.
"""

from __future__ import annotations

import libvirt

from virtdeck.errors import InvalidInput, Unsupported
from virtdeck.model import format_size, to_kib
from virtdeck.model.spec import exact_size

from . import limits
from .schemas import LiveChange
from .spec import SpecMixin

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE


class LiveMixin(SpecMixin):
    """vCPUs and memory; disks and NICs (hotplug.py) and apply/spec (spec.py) via the bases."""

    # -- vCPUs ----------------------------------------------------------------
    def set_cpus(
        self, name: str, count: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        if count < 1:
            raise InvalidInput(f"the vCPU count must be at least 1, not {count}")
        with self.lock(name, "set-cpus"):
            dom, model = self.model(name)
            live, config = self._scope(dom, live, config)
            notes: list[str] = []
            if config:
                _check_cpu_max(name, count, model.max_vcpus or 1)
            if live:
                running = self.live_model(dom)
                _check_cpu_max(name, count, running.max_vcpus or 1)
                now = running.vcpus or 1
                if count < now:
                    raise Unsupported(
                        f"VM {name} runs {now} vCPUs and cannot drop to {count} while running "
                        f"(vCPU hot-unplug is not supported); run 'virtdeck vm set-cpus {name} "
                        f"{count} --config' and restart it"
                    )
                if count > now:
                    self.host.call(
                        f"add vCPUs to VM {name}", lambda _c: dom.setVcpusFlags(count, LIVE)
                    )
                else:
                    notes.append(f"it already runs {count} vCPUs")
            if config:
                model.vcpus = count
                self.redefine(model.to_xml(), "set-cpus")
        return LiveChange(
            name=name, setting="vcpus", value=count, live=live, config=config, notes=notes
        )

    def set_max_cpus(self, name: str, count: int) -> LiveChange:
        if count < 1:
            raise InvalidInput(f"the maximum vCPU count must be at least 1, not {count}")
        with self.lock(name, "set-max-cpus"):
            dom, model = self.model(name)
            self._refuse_running(
                dom,
                "maximum vCPU count",
                f" ('virtdeck vm set-cpus {name} N' uses up to {model.max_vcpus} now)",
            )
            limits.check_vcpus(self.host, count, model.type or "qemu", "max vCPUs")
            notes: list[str] = []
            boot = model.vcpus or 1
            model.max_vcpus = count
            model.vcpus = min(boot, count)
            if boot > count:
                notes.append(f"vCPUs at boot lowered from {boot} to {count}")
            self.redefine(model.to_xml(), "set-max-cpus")
        return LiveChange(
            name=name, setting="max_vcpus", value=count, live=False, config=True, notes=notes
        )

    # -- memory ---------------------------------------------------------------
    def _check_memory_size(self, size_bytes: int, what: str) -> None:
        if size_bytes < limits.MIN_MEMORY_BYTES:
            raise InvalidInput(f"{what} {format_size(size_bytes)} is too small; give at least 16M")
        limits.check_memory(self.host, size_bytes, what)

    def set_memory(
        self, name: str, size_bytes: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        self._check_memory_size(size_bytes, "memory")
        kib = to_kib(size_bytes)
        with self.lock(name, "set-memory"):
            dom, model = self.model(name)
            live, config = self._scope(dom, live, config)
            if config:
                _check_memory_max(name, size_bytes, model.memory_kib or kib)
            if live:
                _check_memory_max(name, size_bytes, self.live_model(dom).memory_kib or kib)
                self.host.call(
                    f"set the memory of VM {name}", lambda _c: dom.setMemoryFlags(kib, LIVE)
                )
            if config:
                model.current_memory_kib = kib
                self.redefine(model.to_xml(), "set-memory")
        return LiveChange(name=name, setting="memory", value=kib, live=live, config=config)

    def set_max_memory(self, name: str, size_bytes: int) -> LiveChange:
        self._check_memory_size(size_bytes, "max memory")
        kib = to_kib(size_bytes)
        with self.lock(name, "set-max-memory"):
            dom, model = self.model(name)
            self._refuse_running(dom, "maximum memory", "")
            notes: list[str] = []
            current = model.memory_current_kib or kib
            model.memory_kib = kib
            model.current_memory_kib = min(current, kib)
            if current > kib:
                notes.append(
                    f"memory at boot lowered from {format_size(current * 1024)} "
                    f"to {format_size(kib * 1024)}"
                )
            self.redefine(model.to_xml(), "set-max-memory")
        return LiveChange(
            name=name, setting="max_memory", value=kib, live=False, config=True, notes=notes
        )


def _check_cpu_max(name: str, count: int, maximum: int) -> None:
    if count > maximum:
        raise InvalidInput(
            f"VM {name} can have at most {maximum} vCPUs; to allow {count}, stop it and run "
            f"'virtdeck vm set-max-cpus {name} {count}'"
        )


def _check_memory_max(name: str, size_bytes: int, maximum_kib: int) -> None:
    if to_kib(size_bytes) > maximum_kib:
        raise InvalidInput(
            f"memory {format_size(size_bytes)} is above VM {name}'s maximum of "
            f"{format_size(maximum_kib * 1024)}; raise the maximum while it is stopped with "
            f"'virtdeck vm set-max-memory {name} {exact_size(size_bytes)}'"
        )
