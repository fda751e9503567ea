"""``/hosts``: the hosts the engine runs VMs on (one, ``local``, for now) and their check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from virtdeck.engine.engine import Engine
from virtdeck.engine.schemas import HostInfo, HostReport
from virtdeck.errors import NotFound

from ..calls import call, call_within
from ..deps import API_PREFIX, EngineDep
from ..routes import Routes

routes = Routes(prefix=API_PREFIX, tags=["hosts"])
router = routes.router

HostId = Annotated[str, Path(max_length=64)]


def _only(engine: Engine, host: str) -> HostInfo:
    info = engine.host_info()
    if host != info.id:
        raise NotFound(f"there is no host {host!r}; this engine has one, {info.id!r}")
    return info


@routes.get(
    "/hosts", operation_id="host_list", permission="host.read", response_model=list[HostInfo]
)
async def list_hosts(engine: EngineDep) -> list[HostInfo]:
    return [await call(engine.host_info)]


@routes.get(
    "/hosts/{host}", operation_id="host_show", permission="host.read", response_model=HostInfo
)
async def show_host(host: HostId, engine: EngineDep) -> HostInfo:
    return await call(_only, engine, host)


@routes.get(
    "/hosts/{host}/check",
    operation_id="host_check",
    permission="host.read",
    response_model=HostReport,
)
async def check_host(
    host: HostId,
    engine: EngineDep,
    refresh: Annotated[
        bool, Query(description="Probe KVM again instead of the cached result.")
    ] = False,
) -> HostReport:
    """What virtdeck needs of the host, each finding with what to do (host check)."""

    def check() -> HostReport:
        _only(engine, host)
        return engine.host_check(refresh)

    return await call_within(120, check)
