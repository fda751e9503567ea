"""``/vms/{name}/snapshots``: create (an operation), list, show, revert, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import JSONResponse

from virtdeck.engine.schemas import (
    OperationInfo,
    SnapshotDeleteResult,
    SnapshotInfo,
)

from ..calls import call
from ..changes import change, check_unchanged
from ..deps import API_PREFIX, EngineDep, IfMatch, accepted
from ..routes import Routes
from ..schemas import SnapshotBody
from .vms import ACCEPTED

routes = Routes(prefix=API_PREFIX, tags=["snapshots"])
router = routes.router

Snapshot = Annotated[str, Path(max_length=255, description="The snapshot's name.")]


@routes.get(
    "/vms/{name}/snapshots",
    operation_id="snapshot_list",
    permission="vm.read",
    response_model=list[SnapshotInfo],
)
async def list_snapshots(name: str, engine: EngineDep) -> list[SnapshotInfo]:
    return await call(engine.list_snapshots, name)


@routes.post(
    "/vms/{name}/snapshots",
    operation_id="snapshot_create",
    permission="snapshot.change",
    status_code=202,
    response_model=OperationInfo,
    responses=ACCEPTED,
)
async def create_snapshot(
    request: Request,
    name: str,
    engine: EngineDep,
    body: SnapshotBody | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    req = body or SnapshotBody()
    await check_unchanged(engine, name, if_match, "snapshot")
    op = await call(engine.submit_snapshot, name, req.name, req.disk_only, req.description)
    return accepted(request, op)


@routes.get(
    "/vms/{name}/snapshots/{snapshot}",
    operation_id="snapshot_show",
    permission="vm.read",
    response_model=SnapshotInfo,
)
async def show_snapshot(name: str, snapshot: Snapshot, engine: EngineDep) -> SnapshotInfo:
    return await call(engine.get_snapshot, name, snapshot)


@routes.post(
    "/vms/{name}/snapshots/{snapshot}/revert",
    operation_id="snapshot_revert",
    permission="snapshot.change",
    status_code=202,
    response_model=OperationInfo,
    responses=ACCEPTED,
)
async def revert_snapshot(
    request: Request, name: str, snapshot: Snapshot, engine: EngineDep, if_match: IfMatch = None
) -> JSONResponse:
    """Go back to the snapshot: an operation; its result is the VM's state after."""
    await check_unchanged(engine, name, if_match, "snapshot revert")
    return accepted(request, await call(engine.submit_revert, name, snapshot))


@routes.delete(
    "/vms/{name}/snapshots/{snapshot}",
    operation_id="snapshot_delete",
    permission="snapshot.change",
    response_model=SnapshotDeleteResult,
)
async def delete_snapshot(
    name: str,
    snapshot: Snapshot,
    engine: EngineDep,
    if_match: IfMatch = None,
    metadata_only: bool = False,
) -> SnapshotDeleteResult:
    return await change(
        engine,
        name,
        if_match,
        "snapshot delete",
        lambda: engine.delete_snapshot(name, snapshot, metadata_only),
        deadline=120,
    )
