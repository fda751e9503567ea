"""The engine: the services of one host, wired together behind ``EngineApi``.

``Engine`` builds one ``HostContext`` (settings, connection, stores, locks)
and one service per area, each given what it needs, and forwards each
method of the interface to the service that owns it. It holds no logic of
its own: what a request means lives in the service (``services/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta

from virtdeck.host.connection import Host
from virtdeck.settings import Settings

from .account_schemas import AuditEntry, TokenCreated, TokenInfo, UserInfo
from .api import ConsoleStream, EngineApi, EventStream, M
from .context import HostContext
from .definitions import Definitions
from .locks import LockManager
from .roles import Role
from .schemas import (
    Acceleration,
    ApplyResult,
    DeleteResult,
    DeviceChange,
    DiskAdd,
    EditResult,
    EditSession,
    GraphicsInfo,
    HistoryEntry,
    HostInfo,
    HostReport,
    LiveChange,
    MetricsSnapshot,
    NicAdd,
    OperationInfo,
    RestoreResult,
    ScreenshotResult,
    SnapshotDeleteResult,
    SnapshotInfo,
    SnapshotRevertResult,
    StopResult,
    VmCreate,
    VmDetail,
    VmDisk,
    VmHistory,
    VmNic,
    VmSpec,
    VmSummary,
)
from .services.accounts import AccountService
from .services.clone import CloneService
from .services.consoles import ConsoleService
from .services.create import CreateService
from .services.devices import DeviceService
from .services.edit import EditService
from .services.history import HistoryService
from .services.hostinfo import HostService
from .services.lifecycle import LifecycleService
from .services.live import LiveService
from .services.metrics import MetricsService
from .services.operations import OperationService
from .services.snapshots import SnapshotService
from .services.specs import SpecService
from .services.vm_cache import VmListCache
from .services.vms import VmService
from .validation import translate_public_methods

# The interface's methods, each passing through the one error boundary.
_API_METHODS = frozenset(
    name for name in vars(EngineApi) if not name.startswith("_") and callable(vars(EngineApi)[name])
)


@translate_public_methods(_API_METHODS)
class Engine:
    """All of virtdeck's operations on one libvirt host, in-process."""

    def __init__(
        self, settings: Settings, host: Host | None = None, locks: LockManager | None = None
    ) -> None:
        self.settings = settings
        self.ctx = HostContext(settings, host, locks)
        self.host = self.ctx.host
        self.defs = Definitions(self.ctx)
        self.ops = OperationService(self.ctx, self.defs)
        self.hostinfo = HostService(self.ctx)
        self.vms = VmService(self.ctx, self.defs)
        self.lifecycle = LifecycleService(self.ctx, self.defs, self.vms)
        self.cloner = CloneService(self.ctx, self.defs, self.ops, self.vms)
        self.creator = CreateService(self.ctx, self.defs, self.ops, self.hostinfo, self.vms)
        self.devices = DeviceService(self.ctx, self.defs)
        self.live = LiveService(self.ctx, self.defs)
        self.specs = SpecService(self.ctx, self.defs, self.devices, self.creator, self.hostinfo)
        self.snapshots = SnapshotService(self.ctx, self.defs, self.ops)
        self.consoles = ConsoleService(self.ctx, self.defs)
        self.history = HistoryService(self.ctx, self.defs)
        self.edits = EditService(self.ctx, self.defs)
        self.metrics_service = MetricsService(self.ctx)
        self.accounts = AccountService(self.ctx)
        self.vm_cache = VmListCache(self.ctx, self.vms)

    def close(self) -> None:
        self.vm_cache.close()
        self.ctx.close()

    def host_check(self, refresh: bool = False) -> HostReport:
        return self.hostinfo.host_check(refresh)

    def host_info(self) -> HostInfo:
        return self.hostinfo.host_info()

    def connected(self) -> bool | None:
        return self.hostinfo.connected()

    def acceleration(self, refresh: bool = False) -> Acceleration:
        return self.hostinfo.acceleration(refresh)

    def metrics(self) -> MetricsSnapshot:
        return self.metrics_service.snapshot()

    def list_vms(self, with_addresses: bool = True) -> list[VmSummary]:
        return self.vms.list_vms(with_addresses)

    def get_vm(self, name: str) -> VmDetail:
        return self.vms.get_vm(name)

    def vm_xml(self, name: str, inactive: bool = False) -> str:
        return self.vms.vm_xml(name, inactive)

    def vm_digest(self, name: str) -> str:
        return self.edits.digest(name)

    def cached_vms(self) -> tuple[int, list[VmSummary]]:
        return self.vm_cache.listing()

    def cached_vms_version(self) -> int | None:
        return self.vm_cache.current_version()

    def forget_cached_vms(self) -> None:
        self.vm_cache.invalidate()

    def expecting(self, name: str, digest: str | None, action: str) -> AbstractContextManager[None]:
        """The VM locked for ``action``, its definition still ``digest`` (the API's If-Match)."""
        return self.edits.expecting(name, digest, action)

    @property
    def host_id(self) -> str:
        """This host's id among the engine's hosts (``local`` for the first)."""
        return self.ctx.host_id

    def create_vm(self, req: VmCreate) -> VmDetail:
        return self.creator.create_vm(req)

    def submit_create(self, req: VmCreate) -> OperationInfo:
        return self.creator.submit_create(req)

    def start_vm(self, name: str) -> VmSummary:
        return self.vms.start_vm(name)

    def stop_vm(self, name: str, timeout: float = 60.0, force: bool = False) -> StopResult:
        return self.vms.stop_vm(name, timeout, force)

    def reboot_vm(self, name: str, force: bool = False, timeout: float = 60.0) -> VmSummary:
        return self.lifecycle.reboot_vm(name, force, timeout)

    def pause_vm(self, name: str) -> VmSummary:
        return self.lifecycle.pause_vm(name)

    def resume_vm(self, name: str) -> VmSummary:
        return self.lifecycle.resume_vm(name)

    def set_autostart(self, name: str, enabled: bool) -> VmSummary:
        return self.lifecycle.set_autostart(name, enabled)

    def rename_vm(self, name: str, new_name: str) -> VmDetail:
        return self.lifecycle.rename_vm(name, new_name)

    def clone_vm(self, source: str, new_name: str, linked: bool = False) -> VmDetail:
        return self.cloner.clone_vm(source, new_name, linked)

    def submit_clone(self, source: str, new_name: str, linked: bool = False) -> OperationInfo:
        return self.cloner.submit_clone(source, new_name, linked)

    def delete_vm(self, name: str, keep_disks: bool = False, force: bool = False) -> DeleteResult:
        return self.vms.delete_vm(name, keep_disks, force)

    def read_log(self, name: str) -> str:
        return self.vms.read_log(name)

    def follow_log(
        self, name: str, until: str | None = None, timeout: float | None = None
    ) -> Iterator[str]:
        return self.vms.follow_log(name, until, timeout)

    def events(
        self,
        name: str | None = None,
        timeout: float | None = None,
        include_operations: bool = False,
    ) -> EventStream:
        return self.lifecycle.events(name, timeout, include_operations)

    def set_cpus(
        self, name: str, count: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        return self.live.set_cpus(name, count, live, config)

    def set_max_cpus(self, name: str, count: int) -> LiveChange:
        return self.live.set_max_cpus(name, count)

    def set_memory(
        self, name: str, size_bytes: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        return self.live.set_memory(name, size_bytes, live, config)

    def set_max_memory(self, name: str, size_bytes: int) -> LiveChange:
        return self.live.set_max_memory(name, size_bytes)

    def list_disks(self, name: str) -> list[VmDisk]:
        return self.devices.list_disks(name)

    def add_disk(self, req: DiskAdd) -> DeviceChange:
        return self.devices.add_disk(req)

    def remove_disk(
        self,
        name: str,
        target: str,
        live: bool = False,
        config: bool = False,
        keep_file: bool = False,
    ) -> DeviceChange:
        return self.devices.remove_disk(name, target, live, config, keep_file)

    def list_nics(self, name: str) -> list[VmNic]:
        return self.devices.list_nics(name)

    def add_nic(self, req: NicAdd) -> DeviceChange:
        return self.devices.add_nic(req)

    def remove_nic(
        self, name: str, mac: str, live: bool = False, config: bool = False
    ) -> DeviceChange:
        return self.devices.remove_nic(name, mac, live, config)

    def vm_spec(self, name: str) -> VmSpec:
        return self.specs.vm_spec(name)

    def apply_spec(self, spec: VmSpec, dry_run: bool = False) -> ApplyResult:
        return self.specs.apply_spec(spec, dry_run)

    def create_snapshot(
        self, name: str, snapshot: str | None = None, disk_only: bool = False, description: str = ""
    ) -> SnapshotInfo:
        return self.snapshots.create_snapshot(name, snapshot, disk_only, description)

    def submit_snapshot(
        self, name: str, snapshot: str | None = None, disk_only: bool = False, description: str = ""
    ) -> OperationInfo:
        return self.snapshots.submit_snapshot(name, snapshot, disk_only, description)

    def list_snapshots(self, name: str) -> list[SnapshotInfo]:
        return self.snapshots.list_snapshots(name)

    def get_snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        return self.snapshots.get_snapshot(name, snapshot)

    def revert_snapshot(self, name: str, snapshot: str) -> SnapshotRevertResult:
        return self.snapshots.revert_snapshot(name, snapshot)

    def submit_revert(self, name: str, snapshot: str) -> OperationInfo:
        return self.snapshots.submit_revert(name, snapshot)

    def delete_snapshot(
        self, name: str, snapshot: str, metadata_only: bool = False
    ) -> SnapshotDeleteResult:
        return self.snapshots.delete_snapshot(name, snapshot, metadata_only)

    def open_console(self, name: str, force: bool = False) -> ConsoleStream:
        return self.consoles.open_console(name, force)

    def graphics_info(self, name: str, show_password: bool = False) -> GraphicsInfo:
        return self.consoles.graphics_info(name, show_password)

    def screenshot(self, name: str, path: str) -> ScreenshotResult:
        return self.consoles.screenshot(name, path)

    def vm_histories(self, name: str, uuid: str | None = None) -> list[VmHistory]:
        return self.history.vm_histories(name, uuid)

    def vm_history(self, name: str, uuid: str | None = None) -> list[HistoryEntry]:
        return self.history.vm_history(name, uuid)

    def vm_history_xml(self, name: str, version: int, uuid: str | None = None) -> str:
        return self.history.vm_history_xml(name, version, uuid)

    def vm_restore(
        self, name: str, version: int | None = None, uuid: str | None = None
    ) -> RestoreResult:
        return self.history.vm_restore(name, version, uuid)

    def edit_begin(self, name: str) -> EditSession:
        return self.edits.edit_begin(name)

    def edit_apply(self, session: EditSession, new_xml: str) -> EditResult:
        return self.edits.edit_apply(session, new_xml)

    def list_operations(self, limit: int = 20) -> list[OperationInfo]:
        return self.ops.list_operations(limit)

    def get_operation(self, op_id: int) -> OperationInfo:
        return self.ops.get_operation(op_id)

    def wait_operation(self, op_id: int, timeout: float | None = None) -> OperationInfo:
        return self.ops.wait(op_id, timeout)

    def operation_result(self, op_id: int, kind: type[M]) -> M:
        return self.ops.result(op_id, kind)

    def cancel_operation(self, op_id: int) -> None:
        return self.ops.cancel(op_id)

    def recover_interrupted(self) -> list[OperationInfo]:
        return self.ops.recover_interrupted()

    def list_users(self) -> list[UserInfo]:
        return self.accounts.list_users()

    def add_user(self, name: str, role: Role, password: str) -> UserInfo:
        return self.accounts.add_user(name, role, password)

    def set_password(self, name: str, password: str) -> UserInfo:
        return self.accounts.set_password(name, password)

    def remove_user(self, name: str) -> None:
        return self.accounts.remove_user(name)

    def create_token(self, name: str, user: str, expires_days: int | None = None) -> TokenCreated:
        expires = None if expires_days is None else timedelta(days=expires_days)
        return self.accounts.create_token(name, user, expires)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        return self.accounts.list_tokens(user)

    def revoke_token(self, token_id: str) -> TokenInfo:
        return self.accounts.revoke_token(token_id)

    def list_audit(
        self,
        user: str | None = None,
        vm: str | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> list[AuditEntry]:
        return self.accounts.list_audit(user, vm, limit, after)


def as_api(engine: Engine) -> EngineApi:
    """``engine`` as the interface; mypy checks here that Engine implements all of it."""
    return engine
