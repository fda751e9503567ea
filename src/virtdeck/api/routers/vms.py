"""``/vms``: list, show, create, delete, the definition, the lifecycle, rename, clone."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from virtdeck.engine.engine import Engine
from virtdeck.engine.schemas import (
    DeleteResult,
    EditResult,
    EditSession,
    GraphicsInfo,
    OperationInfo,
    ScreenshotResult,
    StopResult,
    VmDetail,
    VmSummary,
)
from virtdeck.errors import PreconditionFailed

from ..calls import call
from ..changes import change, check_unchanged
from ..deps import (
    API_PREFIX,
    PAGE_LIMIT_MAX,
    EngineDep,
    IfMatch,
    accepted,
    expected_digest,
    page,
    quoted_etag,
)
from ..routes import Routes
from ..schemas import (
    AutostartBody,
    CloneBody,
    HostedVm,
    Page,
    RebootBody,
    RenameBody,
    StopBody,
    VmCreateBody,
    XmlBody,
)

routes = Routes(prefix=API_PREFIX, tags=["vms"])
router = routes.router

StateFilter = Literal["running", "paused", "shut off", "crashed", "suspended", "other"]
ACCEPTED = {202: {"model": OperationInfo, "description": "Accepted: the operation, running"}}


class VmXml(BaseModel):
    name: str
    xml: str


class VmLog(BaseModel):
    name: str
    text: str


# Pages already written, by (listing version, query): many clients asking
# for the same page get the same bytes until the listing changes.
_PAGES: dict[tuple[int, str], bytes] = {}
_PAGES_KEPT = 64


def _vm_page(
    request: Request,
    engine: Engine,
    state: str | None,
    limit: int,
    after: str | None,
    addresses: bool,
) -> bytes:
    version, vms = engine.cached_vms()
    key = (version, str(request.url.query))
    cached = _PAGES.get(key)
    if cached is not None:
        return cached
    host = engine.host_id
    hosted = [
        HostedVm(host=host, **vm.model_dump(exclude=set() if addresses else {"addresses"}))
        for vm in vms
        if state in (None, vm.state)
    ]
    body = page(request, hosted, lambda vm: vm.name, limit, after).model_dump_json().encode()
    if len(_PAGES) >= _PAGES_KEPT:
        _PAGES.clear()
    _PAGES[key] = body
    return body


@routes.get("/vms", operation_id="vm_list", permission="vm.read", response_model=Page[HostedVm])
async def list_vms(
    request: Request,
    engine: EngineDep,
    state: Annotated[StateFilter | None, Query(description="Only VMs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX)] = 100,
    after: Annotated[str | None, Query(max_length=255, description="The cursor.")] = None,
    addresses: Annotated[bool, Query(description="Include running VMs' addresses.")] = True,
) -> Response:
    """The VMs, a page at a time, by name.

    Served from a listing the server keeps: read again after any domain
    event or change, and at least every few seconds.
    """
    version = engine.cached_vms_version()
    body = None if version is None else _PAGES.get((version, str(request.url.query)))
    if body is None:
        body = await call(_vm_page, request, engine, state, limit, after, addresses)
    return Response(body, media_type="application/json")


@routes.post(
    "/vms",
    operation_id="vm_create",
    permission="vm.change",
    status_code=202,
    response_model=OperationInfo,
    responses=ACCEPTED,
)
async def create_vm(request: Request, engine: EngineDep, body: VmCreateBody) -> JSONResponse:
    request.state.resource = body.name
    return accepted(request, await call(engine.submit_create, body))


@routes.get("/vms/{name}", operation_id="vm_show", permission="vm.read", response_model=VmDetail)
async def show_vm(name: str, engine: EngineDep, response: Response) -> VmDetail:
    def read() -> tuple[VmDetail, str]:
        return engine.get_vm(name), engine.vm_digest(name)

    vm, digest = await call(read)
    response.headers["ETag"] = quoted_etag(digest)
    return vm


@routes.delete(
    "/vms/{name}", operation_id="vm_delete", permission="vm.change", response_model=DeleteResult
)
async def delete_vm(
    name: str,
    engine: EngineDep,
    if_match: IfMatch = None,
    keep_disks: bool = False,
    force: bool = False,
) -> DeleteResult:
    return await change(
        engine, name, if_match, "delete", lambda: engine.delete_vm(name, keep_disks, force)
    )


@routes.get("/vms/{name}/xml", operation_id="vm_xml", permission="vm.read", response_model=VmXml)
async def vm_xml(name: str, engine: EngineDep, response: Response, inactive: bool = False) -> VmXml:
    def read() -> tuple[str, str]:
        return engine.vm_xml(name, inactive), engine.vm_digest(name)

    xml, digest = await call(read)
    response.headers["ETag"] = quoted_etag(digest)
    return VmXml(name=name, xml=xml)


@routes.put(
    "/vms/{name}/xml", operation_id="vm_edit", permission="vm.xml.write", response_model=EditResult
)
async def edit_vm(
    name: str, engine: EngineDep, body: XmlBody, if_match: IfMatch = None
) -> EditResult:
    """Replace the next-boot definition; If-Match (the ETag read with it) is required."""
    digest = expected_digest(if_match)
    if digest is None:
        raise PreconditionFailed(
            "replacing a definition needs If-Match with the ETag it was read with; "
            "read it first and send that ETag"
        )
    session = EditSession(name=name, xml="", digest=digest)
    return await change(
        engine, name, if_match, "edit", lambda: engine.edit_apply(session, body.xml)
    )


@routes.post(
    "/vms/{name}/start", operation_id="vm_start", permission="vm.change", response_model=VmSummary
)
async def start_vm(name: str, engine: EngineDep, if_match: IfMatch = None) -> VmSummary:
    return await change(engine, name, if_match, "start", lambda: engine.start_vm(name))


@routes.post(
    "/vms/{name}/stop", operation_id="vm_stop", permission="vm.change", response_model=StopResult
)
async def stop_vm(
    name: str, engine: EngineDep, body: StopBody | None = None, if_match: IfMatch = None
) -> StopResult:
    req = body or StopBody()
    return await change(
        engine,
        name,
        if_match,
        "stop",
        lambda: engine.stop_vm(name, req.timeout, req.force),
        deadline=req.timeout + 15,
    )


@routes.post(
    "/vms/{name}/reboot",
    operation_id="vm_reboot",
    permission="vm.change",
    response_model=VmSummary,
)
async def reboot_vm(
    name: str, engine: EngineDep, body: RebootBody | None = None, if_match: IfMatch = None
) -> VmSummary:
    req = body or RebootBody()
    return await change(
        engine,
        name,
        if_match,
        "reboot",
        lambda: engine.reboot_vm(name, req.force, req.timeout),
        deadline=req.timeout + 30,
    )


@routes.post(
    "/vms/{name}/pause", operation_id="vm_pause", permission="vm.change", response_model=VmSummary
)
async def pause_vm(name: str, engine: EngineDep, if_match: IfMatch = None) -> VmSummary:
    return await change(engine, name, if_match, "pause", lambda: engine.pause_vm(name))


@routes.post(
    "/vms/{name}/resume",
    operation_id="vm_resume",
    permission="vm.change",
    response_model=VmSummary,
)
async def resume_vm(name: str, engine: EngineDep, if_match: IfMatch = None) -> VmSummary:
    return await change(engine, name, if_match, "resume", lambda: engine.resume_vm(name))


@routes.put(
    "/vms/{name}/autostart",
    operation_id="vm_autostart",
    permission="vm.change",
    response_model=VmSummary,
)
async def set_autostart(
    name: str, engine: EngineDep, body: AutostartBody, if_match: IfMatch = None
) -> VmSummary:
    return await change(
        engine, name, if_match, "autostart", lambda: engine.set_autostart(name, body.enabled)
    )


@routes.post(
    "/vms/{name}/rename", operation_id="vm_rename", permission="vm.change", response_model=VmDetail
)
async def rename_vm(
    request: Request, name: str, engine: EngineDep, body: RenameBody, if_match: IfMatch = None
) -> VmDetail:
    return await change(
        engine, name, if_match, "rename", lambda: engine.rename_vm(name, body.new_name)
    )


@routes.post(
    "/vms/{name}/clone",
    operation_id="vm_clone",
    permission="vm.change",
    status_code=202,
    response_model=OperationInfo,
    responses=ACCEPTED,
)
async def clone_vm(
    request: Request, name: str, engine: EngineDep, body: CloneBody, if_match: IfMatch = None
) -> JSONResponse:
    await check_unchanged(engine, name, if_match, "clone")
    return accepted(request, await call(engine.submit_clone, name, body.new_name, body.linked))


@routes.get("/vms/{name}/log", operation_id="vm_log", permission="vm.read", response_model=VmLog)
async def vm_log(name: str, engine: EngineDep) -> VmLog:
    return VmLog(name=name, text=await call(engine.read_log, name))


@routes.get(
    "/vms/{name}/graphics",
    operation_id="vm_graphics",
    permission="vm.change",
    response_model=GraphicsInfo,
)
async def vm_graphics(name: str, engine: EngineDep, show_password: bool = False) -> GraphicsInfo:
    """Where the VM's VNC/SPICE display listens (on its host), as ``vm vnc`` says."""
    return await call(engine.graphics_info, name, show_password)


def _screenshot_png(engine: Engine, name: str) -> tuple[bytes, ScreenshotResult]:
    # The engine writes a file; the server's is private and gone once read.
    with tempfile.TemporaryDirectory(prefix="virtdeck-shot-") as tmp:
        path = Path(tmp) / "screen.png"
        shot = engine.screenshot(name, str(path))
        return path.read_bytes(), shot


@routes.get(
    "/vms/{name}/screenshot",
    operation_id="vm_screenshot",
    permission="vm.change",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The screen as PNG"}},
)
async def vm_screenshot(name: str, engine: EngineDep) -> Response:
    """The VM's screen now, as a PNG (what the VNC display shows)."""
    png, shot = await call(_screenshot_png, engine, name)
    size = {"X-Image-Width": str(shot.width), "X-Image-Height": str(shot.height)}
    return Response(png, media_type="image/png", headers=size)
