"""``/vms/{name}/history`` and ``/restore``: every earlier definition, and going back to one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel

from virtdeck.engine.schemas import RestoreResult, VmHistory

from ..calls import call
from ..changes import change
from ..deps import API_PREFIX, EngineDep, IfMatch
from ..routes import Routes
from ..schemas import STORED_INT_MAX, RestoreBody

routes = Routes(prefix=API_PREFIX, tags=["history"])
router = routes.router

UuidQuery = Annotated[
    str | None,
    Query(max_length=36, description="One VM's UUID (or 8+ hex digits of it) among the name's."),
]


class VersionXml(BaseModel):
    name: str
    version: int
    xml: str


@routes.get(
    "/vms/{name}/history",
    operation_id="vm_history",
    permission="vm.read",
    response_model=list[VmHistory],
)
async def vm_history(name: str, engine: EngineDep, uuid: UuidQuery = None) -> list[VmHistory]:
    """Every VM that has had this name, each with its versions (deleted ones too)."""
    return await call(engine.vm_histories, name, uuid)


@routes.get(
    "/vms/{name}/history/{version}",
    operation_id="vm_history_xml",
    permission="vm.read",
    response_model=VersionXml,
)
async def vm_history_xml(
    name: str,
    version: Annotated[int, Path(ge=1, le=STORED_INT_MAX)],
    engine: EngineDep,
    uuid: UuidQuery = None,
) -> VersionXml:
    xml = await call(engine.vm_history_xml, name, version, uuid)
    return VersionXml(name=name, version=version, xml=xml)


@routes.post(
    "/vms/{name}/restore",
    operation_id="vm_restore",
    permission="vm.change",
    response_model=RestoreResult,
)
async def vm_restore(
    name: str, engine: EngineDep, body: RestoreBody | None = None, if_match: IfMatch = None
) -> RestoreResult:
    """Define an earlier version again (the last one, by default); a deleted VM comes back."""
    req = body or RestoreBody()
    if if_match is None:
        return await call(engine.vm_restore, name, req.version, req.uuid)
    return await change(
        engine, name, if_match, "restore", lambda: engine.vm_restore(name, req.version, req.uuid)
    )
