"""The pure half of apply: reading and writing YAML specs, and the plan's arithmetic.

No libvirt here: the engine (spec.py) gathers the VM's state, these functions
turn a spec and that state into steps, and the engine carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from virtdeck.errors import InvalidInput
from virtdeck.model import Domain, clip, format_size, quote, to_kib
from virtdeck.model.spec import exact_size

from .schemas import PlanStep, VmSpec

_HINTS = {
    "name": "a VM name",
    "cpus": "a whole number of at least 1",
    "max_cpus": "a whole number of at least 1",
    "memory": "a size like 512M or 2G",
    "max_memory": "a size like 512M or 2G",
    "networks": "a list of libvirt network names",
    "graphics": "vnc, spice or none",
    "image": "the path of a base image",
    "import_disk": "the path of a disk image",
    "autostart": "true or false",
    "running": "true or false",
}


def load_spec(text: str, source: str) -> VmSpec:
    """Parse a YAML spec; any problem is one sentence naming the key and what is allowed.

    The YAML is read by spec_yaml's hardened loader (size, aliases, depth,
    duplicate keys, one document); a message quotes a value cut to length.
    """
    # Imports PyYAML: only spec commands need it.
    from .spec_yaml import SpecYamlError, load_document  # noqa: PLC0415

    try:
        data = load_document(text)
    except SpecYamlError as exc:
        raise InvalidInput(f"{source} {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source} must hold keys such as 'name:' and 'cpus:', one a line")
    try:
        return VmSpec.model_validate(data)
    except ValidationError as exc:
        loc = exc.errors(include_url=False)[0]["loc"]
        key = ".".join(str(part) for part in loc) or None
        raise InvalidInput(_spec_error(source, exc), field=key) from exc


def _spec_error(source: str, exc: ValidationError) -> str:
    """One sentence from the first error's location and message.

    The value is quoted only through ``quote`` (cut to length, a list or a
    mapping described, never printed), and no ``str(exc)`` is used.
    """
    first = exc.errors(include_url=False)[0]
    loc = first["loc"]
    key = str(loc[0]) if loc else "?"
    where = ".".join(str(part) for part in loc) or "the spec"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key {quote(loc[0])}; the keys are {', '.join(_HINTS)}"
    if first["type"] == "missing":
        return f"{source}: the key {quote(key)} is missing; give {_HINTS.get(key, 'it')}"
    reason = clip(str(first["msg"]).removeprefix("Value error, "), limit=200)
    return (
        f"{source}: {clip(where)} has a bad value {quote(first.get('input'))} "
        f"({reason}); use {_HINTS.get(key, 'another value')}"
    )


def spec_fields(spec: VmSpec) -> dict[str, Any]:
    """The keys a spec sets, sizes written as exact strings, in spec order."""
    data: dict[str, Any] = {}
    for key, value in spec.model_dump(exclude_none=True).items():
        data[key] = exact_size(value) if key in ("memory", "max_memory") else value
    return data


def dump_spec(spec: VmSpec) -> str:
    import yaml  # noqa: PLC0415 - only spec commands need it

    return yaml.safe_dump(spec_fields(spec), sort_keys=False, default_flow_style=False)


def networks_of(model: Domain) -> list[str]:
    return [n.source_network or "" for n in model.interfaces if n.type == "network"]


def _mib(kib: int) -> str:
    return format_size(kib * 1024)


@dataclass
class Plan:
    """The steps to show, and what to do for them."""

    steps: list[PlanStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    live_cpus: int | None = None
    live_memory_kib: int | None = None
    addnetworks_of: list[str] = field(default_factory=list)
    removenetworks_of: list[str] = field(default_factory=list)
    config: bool = False  # the definition changes
    stop: bool = False
    start: bool = False

    def step(self, key: str, current: object, wanted: object, how: str) -> None:
        self.steps.append(PlanStep(key=key, current=str(current), wanted=str(wanted), how=how))  # type: ignore[arg-type]
        if how in ("config", "restart", "live"):
            self.config = True


@dataclass(frozen=True)
class Wanted:
    """vCPUs and memory (KiB) the definition should get; left-out keys keep theirs."""

    max_cpus: int
    cpus: int
    max_kib: int
    kib: int

    @classmethod
    def of(cls, spec: VmSpec, model: Domain) -> Wanted:
        max_cpus = spec.max_cpus or model.max_vcpus or 1
        max_kib = to_kib(spec.max_memory) if spec.max_memory else model.memory_kib or 0
        return cls(
            max_cpus=max_cpus,
            # A lowered maximum takes what is left out down with it.
            cpus=spec.cpus or min(model.vcpus or 1, max_cpus),
            max_kib=max_kib,
            kib=to_kib(spec.memory) if spec.memory else min(model.memory_current_kib or 0, max_kib),
        )


def plan_sizes(plan: Plan, name: str, model: Domain, live: Domain | None, wanted: Wanted) -> None:
    restart = "restart" if live is not None else "config"
    if wanted.max_cpus != model.max_vcpus:
        plan.step("max_cpus", model.max_vcpus, wanted.max_cpus, restart)
    running_cpus = (live.vcpus or 1) if live is not None else None
    running_max = (live.max_vcpus or 1) if live is not None else 0
    if running_cpus is not None and running_cpus < wanted.cpus <= running_max:
        plan.live_cpus = wanted.cpus
        shown = (
            model.vcpus
            if running_cpus == model.vcpus
            else f"{model.vcpus} (running {running_cpus})"
        )
        plan.step("cpus", shown, wanted.cpus, "live")
    elif wanted.cpus != model.vcpus:
        plan.step("cpus", model.vcpus, wanted.cpus, restart)
    if running_cpus is not None and running_cpus > wanted.cpus:
        plan.notes.append(
            f"VM {name} runs {running_cpus} vCPUs until its next restart, then {wanted.cpus}"
        )
    if wanted.max_kib != model.memory_kib:
        plan.step("max_memory", _mib(model.memory_kib or 0), _mib(wanted.max_kib), restart)
    if wanted.kib != model.memory_current_kib:
        how = restart
        if live is not None and wanted.kib <= (live.memory_kib or 0):
            plan.live_memory_kib = wanted.kib
            how = "live"
        plan.step("memory", _mib(model.memory_current_kib or 0), _mib(wanted.kib), how)


def check_bounds(name: str, value: int, maximum: int, key: str, max_key: str) -> None:
    if value > maximum:
        shown = (exact_size(value), exact_size(maximum)) if "memory" in key else (value, maximum)
        raise InvalidInput(
            f"spec for VM {name}: {key} {shown[0]} is above {max_key} {shown[1]}; "
            f"raise {max_key} (it applies at the next start) or lower {key}",
            field=key,
        )
