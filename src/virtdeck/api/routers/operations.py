"""``/operations``: long work, followed, awaited (``?wait=``) and cancelled."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from virtdeck.engine.schemas import OperationInfo

from ..calls import call, call_within, deadline
from ..deps import API_PREFIX, EngineDep
from ..routes import Routes
from ..schemas import SECONDS_MAX, STORED_INT_MAX

routes = Routes(prefix=API_PREFIX, tags=["operations"])
router = routes.router

OpId = Annotated[int, Path(ge=1, le=STORED_INT_MAX)]


@routes.get(
    "/operations",
    operation_id="operation_list",
    permission="operation.read",
    response_model=list[OperationInfo],
)
async def list_operations(
    engine: EngineDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[OperationInfo]:
    """The latest operations, newest first; interrupted ones are found and reported."""
    return await call(engine.list_operations, limit)


@routes.get(
    "/operations/{op_id}",
    operation_id="operation_show",
    permission="operation.read",
    response_model=OperationInfo,
)
async def show_operation(
    op_id: OpId,
    engine: EngineDep,
    wait: Annotated[
        float | None,
        Query(ge=0, le=SECONDS_MAX, description="Wait up to this many seconds for the end."),
    ] = None,
) -> OperationInfo:
    if wait is None:
        return await call(engine.get_operation, op_id)
    return await call_within(wait + deadline(), engine.wait_operation, op_id, wait)


@routes.delete(
    "/operations/{op_id}",
    operation_id="operation_cancel",
    permission="operation.cancel",
    status_code=202,
    response_model=OperationInfo,
)
async def cancel_operation(op_id: OpId, engine: EngineDep, response: Response) -> OperationInfo:
    """Ask a running operation to stop; it removes what it made and ends interrupted."""
    await call(engine.cancel_operation, op_id)
    return await call(engine.get_operation, op_id)
