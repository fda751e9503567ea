"""``HttpEngine``: the ``EngineApi`` Protocol, each method one call to the REST API.

The remote CLI builds one of these instead of an ``Engine`` and calls the
same methods; answers are parsed into the same Pydantic models, and a problem
body becomes the same ``VirtdeckError`` (class, field marks, hint), so output
and exit codes are the same in both modes. What needs the server's own
machine (a serial console, a screenshot file, following a log file) is
refused in one sentence until the server bridges it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from virtdeck.engine.account_schemas import AuditEntry, TokenCreated, TokenInfo, UserInfo
from virtdeck.engine.api import ConsoleStream, EventStream, M
from virtdeck.engine.roles import Role
from virtdeck.engine.schemas import (
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
from virtdeck.errors import HostUnavailable, InvalidInput, Timeout, Unsupported

from .events import SseEvents
from .problems import error_from_parts, error_from_response
from .tls import trust

T = TypeVar("T")
JsonBody = Mapping[str, object]

API = "/api/v1"
# Seconds to wait for an answer beyond what the call itself may take.
SLACK = 30.0
# The largest page the server gives; a list asks for pages of it until done.
PAGE = 1000


def _seg(value: str) -> str:
    """One path segment: '/', '?', '#' and '%' in a name cannot change the path."""
    return quote(value, safe="")


class HttpEngine:
    """Everything virtdeck does, asked of a virtdeck server over HTTP."""

    def __init__(
        self,
        server: str,
        token: str,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(60.0 + SLACK, connect=10.0),
            verify=trust(verify),
            transport=transport,
            follow_redirects=False,
        )
        self._host: HostInfo | None = None

    def close(self) -> None:
        self._http.close()

    # -- the wire -------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        body: JsonBody | BaseModel | None = None,
        params: Mapping[str, str | int | float | bool | None] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        content = None
        if isinstance(body, BaseModel):
            content = body.model_dump_json().encode()
        elif body is not None:
            content = json.dumps(body).encode()
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        extra = dict(headers or {})
        if content is not None:
            extra["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method,
                f"{API}{path}",
                content=content,
                params=query,
                headers=extra,
                timeout=None if timeout is None else httpx.Timeout(timeout + SLACK, connect=10.0),
            )
        except httpx.TimeoutException as exc:
            raise Timeout(
                f"the virtdeck server at {self.server} did not answer in time; "
                "check that it runs, and try again"
            ) from exc
        except httpx.TransportError as exc:
            raise HostUnavailable(
                f"cannot reach the virtdeck server at {self.server} ({exc}); "
                "check that it runs and that the URL is right"
            ) from exc
        if response.is_error:
            raise error_from_response(response)
        return response

    def _get(self, path: str, kind: type[M], **params: str | int | float | bool | None) -> M:
        return kind.model_validate_json(self._send("GET", path, params=params).content)

    def _list(self, path: str, kind: type[T], **params: str | int | float | bool | None) -> T:
        return TypeAdapter(kind).validate_json(self._send("GET", path, params=params).content)

    def _post(
        self,
        path: str,
        kind: type[M],
        body: JsonBody | BaseModel | None = None,
        timeout: float | None = None,
        method: str = "POST",
        **params: str | int | float | bool | None,
    ) -> M:
        answer = self._send(method, path, body=body, params=params, timeout=timeout)
        return kind.model_validate_json(answer.content)

    def _vm(self, name: str, rest: str = "") -> str:
        return f"/vms/{_seg(name)}{rest}"

    # -- the host -------------------------------------------------------------
    def host_check(self, refresh: bool = False) -> HostReport:
        host = _seg(self.host_info().id)
        return self._get(f"/hosts/{host}/check", HostReport, refresh=refresh)

    def acceleration(self, refresh: bool = False) -> Acceleration:
        report = self.host_check(refresh)
        if report.acceleration is None:
            raise Unsupported("the server's host check reports no acceleration finding")
        return report.acceleration

    def host_info(self) -> HostInfo:
        # The engine's one host for now; many hosts will name theirs.
        if self._host is None:
            self._host = self._list("/hosts", list[HostInfo])[0]
        return self._host

    def metrics(self) -> MetricsSnapshot:
        return self._get("/stats", MetricsSnapshot)

    # -- VMs ------------------------------------------------------------------
    def list_vms(self, with_addresses: bool = True) -> list[VmSummary]:
        vms: list[VmSummary] = []
        after: str | None = None
        while True:
            page = self._send(
                "GET", "/vms", params={"limit": PAGE, "after": after, "addresses": with_addresses}
            ).json()
            vms.extend(VmSummary.model_validate(item) for item in page["items"])
            if not page.get("next") or not page["items"]:
                return vms
            after = str(page["items"][-1]["name"])

    def get_vm(self, name: str) -> VmDetail:
        return self._get(self._vm(name), VmDetail)

    def vm_xml(self, name: str, inactive: bool = False) -> str:
        return str(
            self._send("GET", self._vm(name, "/xml"), params={"inactive": inactive}).json()["xml"]
        )

    def vm_digest(self, name: str) -> str:
        etag = self._send("GET", self._vm(name, "/xml"), params={"inactive": True}).headers["ETag"]
        return etag.strip('"')

    def create_vm(self, req: VmCreate) -> VmDetail:
        return self.operation_result(self.submit_create(req).id, VmDetail)

    def submit_create(self, req: VmCreate) -> OperationInfo:
        return self._post("/vms", OperationInfo, req)

    def start_vm(self, name: str) -> VmSummary:
        return self._post(self._vm(name, "/start"), VmSummary)

    def stop_vm(self, name: str, timeout: float = 60.0, force: bool = False) -> StopResult:
        body = {"timeout": timeout, "force": force}
        return self._post(self._vm(name, "/stop"), StopResult, body, timeout=timeout + 15)

    def reboot_vm(self, name: str, force: bool = False, timeout: float = 60.0) -> VmSummary:
        body = {"timeout": timeout, "force": force}
        return self._post(self._vm(name, "/reboot"), VmSummary, body, timeout=timeout + 30)

    def pause_vm(self, name: str) -> VmSummary:
        return self._post(self._vm(name, "/pause"), VmSummary)

    def resume_vm(self, name: str) -> VmSummary:
        return self._post(self._vm(name, "/resume"), VmSummary)

    def set_autostart(self, name: str, enabled: bool) -> VmSummary:
        return self._post(
            self._vm(name, "/autostart"), VmSummary, {"enabled": enabled}, method="PUT"
        )

    def rename_vm(self, name: str, new_name: str) -> VmDetail:
        return self._post(self._vm(name, "/rename"), VmDetail, {"new_name": new_name})

    def clone_vm(self, source: str, new_name: str, linked: bool = False) -> VmDetail:
        return self.operation_result(self.submit_clone(source, new_name, linked).id, VmDetail)

    def submit_clone(self, source: str, new_name: str, linked: bool = False) -> OperationInfo:
        body = {"new_name": new_name, "linked": linked}
        return self._post(self._vm(source, "/clone"), OperationInfo, body)

    def delete_vm(self, name: str, keep_disks: bool = False, force: bool = False) -> DeleteResult:
        return self._post(
            self._vm(name), DeleteResult, method="DELETE", keep_disks=keep_disks, force=force
        )

    def read_log(self, name: str) -> str:
        return str(self._send("GET", self._vm(name, "/log")).json()["text"])

    def follow_log(
        self, name: str, until: str | None = None, timeout: float | None = None
    ) -> Iterator[str]:
        raise Unsupported(
            f"following VM {name}'s log works on its host only for now; read it whole "
            "through the server, or follow it on the host"
        )

    def events(
        self,
        name: str | None = None,
        timeout: float | None = None,
        include_operations: bool = False,
    ) -> EventStream:
        return SseEvents(self._http, f"{API}/events", name, timeout, include_operations)

    # -- live changes ---------------------------------------------------------
    def set_cpus(
        self, name: str, count: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        body = {"count": count, "live": live, "config": config}
        return self._post(self._vm(name, "/cpus"), LiveChange, body, method="PUT")

    def set_max_cpus(self, name: str, count: int) -> LiveChange:
        return self._post(self._vm(name, "/max-cpus"), LiveChange, {"count": count}, method="PUT")

    def set_memory(
        self, name: str, size_bytes: int, live: bool = False, config: bool = False
    ) -> LiveChange:
        body = {"size_bytes": size_bytes, "live": live, "config": config}
        return self._post(self._vm(name, "/memory"), LiveChange, body, method="PUT")

    def set_max_memory(self, name: str, size_bytes: int) -> LiveChange:
        body = {"size_bytes": size_bytes}
        return self._post(self._vm(name, "/max-memory"), LiveChange, body, method="PUT")

    # -- devices --------------------------------------------------------------
    def list_disks(self, name: str) -> list[VmDisk]:
        return self._list(self._vm(name, "/disks"), list[VmDisk])

    def add_disk(self, req: DiskAdd) -> DeviceChange:
        body = req.model_dump(mode="json", exclude={"name"})
        return self._post(self._vm(req.name, "/disks"), DeviceChange, body, timeout=600)

    def remove_disk(
        self,
        name: str,
        target: str,
        live: bool = False,
        config: bool = False,
        keep_file: bool = False,
    ) -> DeviceChange:
        return self._post(
            self._vm(name, f"/disks/{_seg(target)}"),
            DeviceChange,
            method="DELETE",
            live=live,
            config=config,
            keep_file=keep_file,
        )

    def list_nics(self, name: str) -> list[VmNic]:
        return self._list(self._vm(name, "/nics"), list[VmNic])

    def add_nic(self, req: NicAdd) -> DeviceChange:
        body = req.model_dump(mode="json", exclude={"name"})
        return self._post(self._vm(req.name, "/nics"), DeviceChange, body)

    def remove_nic(
        self, name: str, mac: str, live: bool = False, config: bool = False
    ) -> DeviceChange:
        return self._post(
            self._vm(name, f"/nics/{_seg(mac)}"),
            DeviceChange,
            method="DELETE",
            live=live,
            config=config,
        )

    # -- specs ----------------------------------------------------------------
    def vm_spec(self, name: str) -> VmSpec:
        return self._get(self._vm(name, "/spec"), VmSpec)

    def apply_spec(self, spec: VmSpec, dry_run: bool = False) -> ApplyResult:
        body = spec.model_dump(mode="json", exclude_none=True)
        if dry_run:
            return self._post("/plan", ApplyResult, body)
        return self._post("/apply", ApplyResult, body, timeout=900)

    # -- snapshots ------------------------------------------------------------
    def create_snapshot(
        self,
        name: str,
        snapshot: str | None = None,
        disk_only: bool = False,
        description: str = "",
    ) -> SnapshotInfo:
        op = self.submit_snapshot(name, snapshot, disk_only, description)
        return self.operation_result(op.id, SnapshotInfo)

    def submit_snapshot(
        self,
        name: str,
        snapshot: str | None = None,
        disk_only: bool = False,
        description: str = "",
    ) -> OperationInfo:
        body = {"name": snapshot, "disk_only": disk_only, "description": description}
        return self._post(self._vm(name, "/snapshots"), OperationInfo, body)

    def list_snapshots(self, name: str) -> list[SnapshotInfo]:
        return self._list(self._vm(name, "/snapshots"), list[SnapshotInfo])

    def get_snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        return self._get(self._vm(name, f"/snapshots/{_seg(snapshot)}"), SnapshotInfo)

    def revert_snapshot(self, name: str, snapshot: str) -> SnapshotRevertResult:
        op = self.submit_revert(name, snapshot)
        return self.operation_result(op.id, SnapshotRevertResult)

    def submit_revert(self, name: str, snapshot: str) -> OperationInfo:
        return self._post(self._vm(name, f"/snapshots/{_seg(snapshot)}/revert"), OperationInfo)

    def delete_snapshot(
        self, name: str, snapshot: str, metadata_only: bool = False
    ) -> SnapshotDeleteResult:
        return self._post(
            self._vm(name, f"/snapshots/{_seg(snapshot)}"),
            SnapshotDeleteResult,
            method="DELETE",
            metadata_only=metadata_only,
            timeout=120,
        )

    # -- consoles -------------------------------------------------------------
    def open_console(self, name: str, force: bool = False) -> ConsoleStream:
        raise Unsupported(
            f"VM {name}'s serial console is reached on its host for now; the server's "
            "console bridge comes with the web console"
        )

    def graphics_info(self, name: str, show_password: bool = False) -> GraphicsInfo:
        return self._get(self._vm(name, "/graphics"), GraphicsInfo, show_password=show_password)

    def screenshot(self, name: str, path: str) -> ScreenshotResult:
        """The screen fetched from the server, written here at ``path``."""
        answer = self._send("GET", self._vm(name, "/screenshot"), timeout=60)
        png = answer.content
        width, height = int(answer.headers["X-Image-Width"]), int(answer.headers["X-Image-Height"])
        target = Path(path)
        try:
            target.write_bytes(png)
        except OSError as exc:
            raise InvalidInput(
                f"cannot write the screenshot to {path} ({exc.strerror}); give another path"
            ) from exc
        return ScreenshotResult(
            name=name, path=str(target), width=width, height=height, bytes=len(png)
        )

    # -- history and edits ----------------------------------------------------
    def vm_histories(self, name: str, uuid: str | None = None) -> list[VmHistory]:
        return self._list(self._vm(name, "/history"), list[VmHistory], uuid=uuid)

    def vm_history(self, name: str, uuid: str | None = None) -> list[HistoryEntry]:
        return [v for h in self.vm_histories(name, uuid) for v in h.versions]

    def vm_history_xml(self, name: str, version: int, uuid: str | None = None) -> str:
        answer = self._send("GET", self._vm(name, f"/history/{version}"), params={"uuid": uuid})
        return str(answer.json()["xml"])

    def vm_restore(
        self, name: str, version: int | None = None, uuid: str | None = None
    ) -> RestoreResult:
        body = {"version": version, "uuid": uuid}
        return self._post(self._vm(name, "/restore"), RestoreResult, body)

    def edit_begin(self, name: str) -> EditSession:
        answer = self._send("GET", self._vm(name, "/xml"), params={"inactive": True})
        return EditSession(
            name=name, xml=str(answer.json()["xml"]), digest=answer.headers["ETag"].strip('"')
        )

    def edit_apply(self, session: EditSession, new_xml: str) -> EditResult:
        answer = self._send(
            "PUT",
            self._vm(session.name, "/xml"),
            body={"xml": new_xml},
            headers={"If-Match": f'"{session.digest}"'},
        )
        return EditResult.model_validate_json(answer.content)

    # -- operations -----------------------------------------------------------
    def list_operations(self, limit: int = 20) -> list[OperationInfo]:
        return self._list("/operations", list[OperationInfo], limit=limit)

    def get_operation(self, op_id: int) -> OperationInfo:
        return self._get(f"/operations/{op_id}", OperationInfo)

    def wait_operation(self, op_id: int, timeout: float | None = None) -> OperationInfo:
        if timeout is not None:
            answer = self._send(
                "GET", f"/operations/{op_id}", params={"wait": timeout}, timeout=timeout
            )
            return OperationInfo.model_validate_json(answer.content)
        op = self.get_operation(op_id)
        while op.state == "running":
            answer = self._send("GET", f"/operations/{op_id}", params={"wait": 30}, timeout=30)
            op = OperationInfo.model_validate_json(answer.content)
        return op

    def operation_result(self, op_id: int, kind: type[M]) -> M:
        op = self.wait_operation(op_id)
        if op.state == "succeeded" and op.result is not None:
            return kind.model_validate(op.result)
        raise error_from_parts(op.error_code or "operation_failed", op.error, op.error_parts)

    def cancel_operation(self, op_id: int) -> None:
        self._send("DELETE", f"/operations/{op_id}")

    # -- users, tokens, audit ---------------------------------------------------
    def list_users(self) -> list[UserInfo]:
        return self._list("/users", list[UserInfo])

    def add_user(self, name: str, role: Role, password: str) -> UserInfo:
        body = {"name": name, "role": role, "password": password}
        return self._post("/users", UserInfo, body)

    def set_password(self, name: str, password: str) -> UserInfo:
        body = {"password": password}
        return self._post(f"/users/{_seg(name)}/password", UserInfo, body, method="PUT")

    def remove_user(self, name: str) -> None:
        self._send("DELETE", f"/users/{_seg(name)}")

    def create_token(self, name: str, user: str, expires_days: int | None = None) -> TokenCreated:
        body = {"name": name, "user": user, "expires_days": expires_days}
        return self._post("/tokens", TokenCreated, body)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        return self._list("/tokens", list[TokenInfo], user=user)

    def revoke_token(self, token_id: str) -> TokenInfo:
        return self._post(f"/tokens/{_seg(token_id)}", TokenInfo, method="DELETE")

    def list_audit(
        self,
        user: str | None = None,
        vm: str | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> list[AuditEntry]:
        answer = self._send(
            "GET", "/audit", params={"user": user, "vm": vm, "limit": limit, "after": after}
        )
        return [AuditEntry.model_validate(item) for item in answer.json()["items"]]

    def recover_interrupted(self) -> list[OperationInfo]:
        # The server recovers at start and before each operation; listing does it too.
        return [op for op in self.list_operations(100) if op.state == "interrupted"]


def _param(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
