"""What goes into and comes out of the engine: Pydantic models only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "warn", "fail"]


class Finding(BaseModel):
    name: str
    status: Status
    summary: str
    fix: str = ""
    data: dict[str, object] = Field(default_factory=dict)


class Acceleration(BaseModel):
    """The domain type new VMs get on a host, and why."""

    domain_type: Literal["kvm", "qemu"]
    cpu_mode: str | None = None
    reason: str
    source: Literal["probe", "override", "cache"]


class HostReport(BaseModel):
    uri: str
    findings: list[Finding]
    acceleration: Acceleration | None = None

    @property
    def failed(self) -> bool:
        return any(f.status == "fail" for f in self.findings)


class VmSummary(BaseModel):
    name: str
    state: str
    vcpus: int
    max_vcpus: int
    memory_kib: int
    max_memory_kib: int
    addresses: list[str] = Field(default_factory=list)
    autostart: bool
    persistent: bool


class DiskInfo(BaseModel):
    target: str
    device: str
    bus: str | None
    path: str | None
    format: str | None
    created_by_virtdeck: bool


class NicInfo(BaseModel):
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


class VmCreate(BaseModel):
    """A request to create one VM; sizes are already parsed, in bytes."""

    name: str
    cpus: int = 1
    max_cpus: int | None = None
    memory_bytes: int = 512 * 2**20
    max_memory_bytes: int | None = None
    networks: list[str] | None = None  # None: the 'default' network when it exists
    graphics: GraphicsKind = "vnc"
    graphics_listen: str = "127.0.0.1"
    graphics_password: str | None = None
    image: str | None = None
    full_copy: bool = False
    import_disk: str | None = None
    disk_size_bytes: int | None = None
    start: bool = False
    autostart: bool = False


class StopResult(BaseModel):
    name: str
    how: Literal["shutdown", "destroyed"]


class DeleteResult(BaseModel):
    name: str
    removed_disks: list[str]
    kept_disks: list[str]


class HistoryEntry(BaseModel):
    version: int
    action: str
    created_at: datetime
    deleted: bool
    diff: str  # unified diff against the version before; empty for the first


class RestoreResult(BaseModel):
    name: str
    version: int
    was_deleted: bool
    running: bool  # the restored definition applies from the next start
    disks_present: list[str]
    disks_missing: list[str]


class EditSession(BaseModel):
    """A definition handed out for editing, and its digest at that moment."""

    name: str
    xml: str
    digest: str


class EditResult(BaseModel):
    name: str
    changed: bool
    diff: str
