"""What goes into and comes out of the engine: Pydantic models only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, PlainSerializer

from virtdeck.model import SIZE_MAX, SizeError, parse_size
from virtdeck.model.spec import exact_size

Status = Literal["ok", "warn", "fail"]


class Schema(BaseModel):
    # Pydantic builds a model's validator when it is first used, not when the
    # class is defined: a command that touches two of these models should not
    # pay at start-up for all thirty.
    model_config = ConfigDict(defer_build=True)


class Finding(Schema):
    name: str
    status: Status
    summary: str
    fix: str = ""
    data: dict[str, object] = Field(default_factory=dict)


class Acceleration(Schema):
    """The domain type new VMs get on a host, and why."""

    domain_type: Literal["kvm", "qemu"]
    cpu_mode: str | None = None
    reason: str
    source: Literal["probe", "override", "cache"]


class HostReport(Schema):
    uri: str
    findings: list[Finding]
    acceleration: Acceleration | None = None

    @property
    def failed(self) -> bool:
        return any(f.status == "fail" for f in self.findings)


class HostInfo(Schema):
    """One host the engine runs VMs on."""

    id: str  # the engine's id for it: 'local' for the first local one
    uri: str
    libvirt_version: str
    hypervisor_version: str


class VmSummary(Schema):
    name: str
    state: str
    vcpus: int
    max_vcpus: int
    memory_kib: int
    max_memory_kib: int
    addresses: list[str] = Field(default_factory=list)
    autostart: bool
    persistent: bool


class DiskInfo(Schema):
    target: str
    device: str
    bus: str | None
    path: str | None
    format: str | None
    created_by_virtdeck: bool


class NicInfo(Schema):
    type: str | None
    source: str | None
    mac: str | None
    model: str | None


class VmDetail(VmSummary):
    uuid: str
    domain_type: str | None
    machine: str | None
    disks: list[DiskInfo]
    nics: list[NicInfo]
    graphics: list[str]
    serial_log: str | None


GraphicsKind = Literal["vnc", "spice", "none"]
# The most vCPUs any libvirt/QEMU machine type takes (q35 with x2APIC); a host
# check later refuses what this host's hypervisor cannot give.
VCPUS_MAX = 4096
# cloud-init user-data must stay below this (a seed is a small CD, read at boot).
USER_DATA_MAX_BYTES = 2**20
# A YAML spec (apply -f) larger than this is refused before it is parsed.
SPEC_MAX_BYTES = 256 * 1024


class VmCreate(Schema):
    """A request to create one VM; sizes are already parsed, in bytes."""

    name: str
    # Upper bounds here (past them a number would overflow libvirt's 64-bit
    # fields); the lower ones are the engine's sentences ("cpus must be at
    # least 1", "memory_bytes must be at least 16M" in create_plan).
    cpus: int = Field(default=1, le=VCPUS_MAX)
    max_cpus: int | None = Field(default=None, le=VCPUS_MAX)
    memory_bytes: int = Field(default=512 * 2**20, le=SIZE_MAX)
    max_memory_bytes: int | None = Field(default=None, le=SIZE_MAX)
    networks: list[str] | None = None  # None: the 'default' network when it exists
    graphics: GraphicsKind = "vnc"
    graphics_listen: str = "127.0.0.1"
    graphics_password: str | None = None
    image: str | None = None
    full_copy: bool = False
    import_disk: str | None = None
    disk_size_bytes: int | None = Field(default=None, le=SIZE_MAX)
    iso: str | None = None  # install from this CD image onto a new disk of disk_size_bytes
    # cloud-init (a NoCloud seed CD): texts, not paths, since the files are the client's
    hostname: str | None = None
    ssh_keys: list[str] = Field(default_factory=list)
    user_data: str | None = None
    start: bool = False
    autostart: bool = False

    @property
    def wants_seed(self) -> bool:
        return bool(self.hostname or self.ssh_keys or self.user_data is not None)


class StopResult(Schema):
    name: str
    how: Literal["shutdown", "destroyed"]


class DeleteResult(Schema):
    name: str
    removed_disks: list[str]
    kept_disks: list[str]
    # Why a disk virtdeck made for this VM was kept (another VM uses it): path -> why.
    kept_reasons: dict[str, str] = {}
    removed_logs: list[str] = []


class HistoryEntry(Schema):
    """One version of one VM's definition; versions are numbered per UUID."""

    uuid: str
    name: str  # the VM's name in this version (a rename changes it)
    version: int
    action: str
    created_at: datetime
    deleted: bool
    diff: str  # unified diff against the version before; empty for the first


class VmHistory(Schema):
    """One VM (one UUID) that has had a name on this host, and all its versions.

    ``last_seen`` is when it last had the name: now while it has it, else when
    it was renamed away or deleted (or last seen, if it went behind virtdeck's
    back). ``deleted_at`` is set when virtdeck deleted it and it has not come back.
    """

    name: str  # the name asked about
    uuid: str
    exists: bool  # a VM with this UUID is defined now
    current: bool  # it exists and has the name now
    current_name: str | None  # its name now; None when it does not exist
    first_seen: datetime
    last_seen: datetime
    deleted_at: datetime | None
    versions: list[HistoryEntry]


OperationState = Literal["running", "succeeded", "failed", "interrupted"]


class ErrorPart(Schema):
    """A piece of an error message: words, or the name of a request field."""

    text: str
    field: bool = False


class OperationInfo(Schema):
    """One long operation (create, clone, snapshot ...), running or ended."""

    id: int
    kind: str
    target: str
    state: OperationState
    step: str  # what it does now, or did last
    progress: int  # percent
    error: str  # why it failed, or what recovery found after it was interrupted
    started_at: datetime
    ended_at: datetime | None
    # What it has made that no VM owns yet: removed again if it is interrupted.
    pending: list[str]
    # The stable code of the error it failed with ('' while running or after success).
    error_code: str = ""
    # The error again, cut into words and the request fields it names, for a
    # front end to spell them (the CLI as its options); [] when it names none.
    error_parts: list[ErrorPart] = Field(default_factory=list)
    # What it made, once it succeeded: the VmDetail of a create or clone, the
    # SnapshotInfo of a snapshot, as JSON.
    result: dict[str, JsonValue] | None = None


class RestoreResult(Schema):
    name: str  # the VM's name after the restore
    uuid: str
    version: int
    was_deleted: bool
    running: bool  # the restored definition applies from the next start
    disks_present: list[str]
    disks_missing: list[str]
    notes: list[str] = Field(default_factory=list)


class EditSession(Schema):
    """A definition handed out for editing, and its digest at that moment."""

    name: str
    xml: str
    digest: str


class EditResult(Schema):
    name: str
    changed: bool
    diff: str


class GraphicsDisplay(Schema):
    """One graphics device of a VM: where a viewer connects."""

    type: str  # vnc, spice
    address: str | None
    port: int | None  # None while an autoport VM is stopped
    autoport: bool
    tls_port: int | None = None
    password_set: bool
    password: str | None = None  # only when asked for
    uri: str | None = None  # vnc://ADDR:PORT, for a viewer


class GraphicsInfo(Schema):
    name: str
    running: bool
    displays: list[GraphicsDisplay]


class ScreenshotResult(Schema):
    name: str
    path: str
    width: int
    height: int
    bytes: int


SnapshotKind = Literal["memory", "disk", "disk-only"]


class SnapshotInfo(Schema):
    """One snapshot of a VM.

    kind: 'memory' (internal, with the guest's RAM: taken while it ran),
    'disk' (internal, disks only: taken while it was shut off), 'disk-only'
    (external overlay files, taken with disk_only).
    """

    vm: str
    name: str
    kind: SnapshotKind
    created_at: datetime
    vm_state: str
    description: str
    parent: str | None
    current: bool
    revertible: bool
    overlays: list[str] = Field(default_factory=list)


class SnapshotRevertResult(Schema):
    vm: str
    snapshot: str
    state: str  # the VM's state after the revert


class SnapshotDeleteResult(Schema):
    vm: str
    snapshot: str
    removed_files: list[str]


class VmEvent(Schema):
    time: datetime
    vm: str
    event: str  # defined, undefined, started, paused, resumed, stopped, shutdown, rebooted...
    detail: str
    uuid: str | None = None
    # Who caused it, where virtdeck knows (its own change, made for that user);
    # None for a change made elsewhere (virsh) or by the guest.
    actor: str | None = None
    operation_id: int | None = None
    # For event "operation": the operation's record as it is now.
    operation: OperationInfo | None = None


# -- live changes, hot-plug, apply/spec --------------------------------------


class LiveChange(Schema):
    """One vCPU or memory change: where it took effect, and anything worth saying."""

    name: str
    setting: Literal["vcpus", "max_vcpus", "memory", "max_memory"]
    value: int  # a count for vCPUs, KiB for memory
    live: bool  # the running guest has it now
    config: bool  # the definition has it (from the next start)
    notes: list[str] = Field(default_factory=list)


class DiskAdd(Schema):
    """A disk to attach: a new qcow2 of ``size_bytes``, or an existing image at ``path``."""

    name: str
    size_bytes: int | None = Field(default=None, ge=1, le=SIZE_MAX)
    path: str | None = None
    target: str | None = None
    live: bool = False  # neither flag: running VM -> both, stopped VM -> config
    config: bool = False


class NicAdd(Schema):
    name: str
    network: str
    mac: str | None = None  # None: a new 52:54:00 address
    model: str = "virtio"
    live: bool = False
    config: bool = False


class VmDisk(DiskInfo):
    live: bool  # attached to the running guest
    config: bool  # in the definition


class VmNic(NicInfo):
    live: bool
    config: bool


class DeviceChange(Schema):
    """What a disk or NIC add/remove did."""

    name: str
    device: str  # 'disk vdb' or 'nic 52:54:00:...'
    action: Literal["added", "removed"]
    live: bool
    config: bool
    created_file: str | None = None
    deleted_file: str | None = None
    kept_file: str | None = None
    kept_reason: str | None = None  # another VM uses the kept file


class PlanStep(Schema):
    """One difference between a spec and a VM, and how apply makes it true."""

    key: str
    current: str
    wanted: str
    how: Literal["create", "live", "config", "restart", "now", "start", "stop"]


class ApplyResult(Schema):
    name: str
    created: bool  # the VM did not exist (and was created unless dry_run)
    steps: list[PlanStep]
    notes: list[str] = Field(default_factory=list)
    dry_run: bool
    state: str | None = None  # the VM's state afterwards; None after a dry run


def _spec_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not a size")
    try:
        return parse_size(value, default_unit="M")
    except SizeError as exc:
        raise ValueError(str(exc)) from exc


# A size in a spec: 512M, 2G, 1.5GiB or a bare number of MiB; held in bytes.
# In JSON (the API) it goes out as that exact string again ("512M"), since a
# bare number would read back as MiB.
SpecSize = Annotated[
    int,
    BeforeValidator(_spec_size),
    PlainSerializer(exact_size, return_type=str, when_used="json"),
]


class VmSpec(Schema):
    """A VM as a declarative spec (``apply -f``, ``vm spec``).

    A key that is left out is not managed: apply leaves that setting of an
    existing VM as it is, and a new VM gets the same default as ``vm create``.

    Strict: ``cpus: true`` or ``cpus: "2"`` is refused, not taken as 1 or 2,
    and ``autostart: 1`` is not a flag. Errors never carry the input value
    (an alias bomb's value is gigabytes when printed).
    """

    model_config = ConfigDict(
        extra="forbid", defer_build=True, strict=True, hide_input_in_errors=True
    )

    name: str
    cpus: int | None = Field(default=None, ge=1, le=VCPUS_MAX)
    max_cpus: int | None = Field(default=None, ge=1, le=VCPUS_MAX)
    memory: SpecSize | None = None
    max_memory: SpecSize | None = None
    networks: list[str] | None = None
    graphics: GraphicsKind | None = None
    image: str | None = None
    import_disk: str | None = None
    autostart: bool | None = None
    running: bool | None = None


# -- metrics -------------------------------------------------------------------


class DiskMetrics(Schema):
    name: str  # the target, vda
    read_bytes: int | None = None
    write_bytes: int | None = None
    read_requests: int | None = None
    write_requests: int | None = None


class NicMetrics(Schema):
    name: str  # the host side, vnet0
    rx_bytes: int | None = None
    tx_bytes: int | None = None
    rx_packets: int | None = None
    tx_packets: int | None = None


class VmMetrics(Schema):
    """One VM's counters; None where the host does not report them (a VM shut off)."""

    name: str
    uuid: str
    state: str
    cpu_time_ns: int | None = None
    vcpus: int | None = None
    max_vcpus: int | None = None
    balloon_kib: int | None = None
    max_balloon_kib: int | None = None
    rss_kib: int | None = None
    disks: list[DiskMetrics] = Field(default_factory=list)
    nics: list[NicMetrics] = Field(default_factory=list)


class HostMetrics(Schema):
    host: str  # the host's id (local)
    uri: str
    cpus: int
    memory_total_kib: int
    memory_free_kib: int | None = None
    # Nanoseconds all CPUs spent per mode (kernel, user, idle, iowait) since boot.
    cpu_time_ns: dict[str, int] = Field(default_factory=dict)


class MetricsSnapshot(Schema):
    """The host, every VM and the operations by state, read at one moment."""

    taken_at: datetime
    host: HostMetrics
    vms: list[VmMetrics]
    operations: dict[str, int]  # state -> how many rows of this host are in it
