"""Live changes and devices: ``/vms/{name}/cpus``, ``/memory``, ``/disks``, ``/nics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from virtdeck.engine.schemas import DeviceChange, DiskAdd, LiveChange, NicAdd, VmDisk, VmNic

from ..calls import call
from ..changes import change
from ..deps import API_PREFIX, EngineDep, IfMatch
from ..routes import Routes
from ..schemas import CpusBody, DiskAddBody, MaxCpusBody, MaxMemoryBody, MemoryBody, NicAddBody

routes = Routes(prefix=API_PREFIX, tags=["devices"])
router = routes.router

Target = Annotated[str, Path(max_length=32, description="The disk's target device (vdb).")]
Mac = Annotated[str, Path(max_length=32, description="The NIC's MAC address.")]


@routes.put(
    "/vms/{name}/cpus",
    operation_id="vm_set_cpus",
    permission="vm.change",
    response_model=LiveChange,
)
async def set_cpus(
    name: str, engine: EngineDep, body: CpusBody, if_match: IfMatch = None
) -> LiveChange:
    return await change(
        engine,
        name,
        if_match,
        "set-cpus",
        lambda: engine.set_cpus(name, body.count, body.live, body.config),
    )


@routes.put(
    "/vms/{name}/max-cpus",
    operation_id="vm_set_max_cpus",
    permission="vm.change",
    response_model=LiveChange,
)
async def set_max_cpus(
    name: str, engine: EngineDep, body: MaxCpusBody, if_match: IfMatch = None
) -> LiveChange:
    return await change(
        engine, name, if_match, "set-max-cpus", lambda: engine.set_max_cpus(name, body.count)
    )


@routes.put(
    "/vms/{name}/memory",
    operation_id="vm_set_memory",
    permission="vm.change",
    response_model=LiveChange,
)
async def set_memory(
    name: str, engine: EngineDep, body: MemoryBody, if_match: IfMatch = None
) -> LiveChange:
    return await change(
        engine,
        name,
        if_match,
        "set-memory",
        lambda: engine.set_memory(name, body.size_bytes, body.live, body.config),
    )


@routes.put(
    "/vms/{name}/max-memory",
    operation_id="vm_set_max_memory",
    permission="vm.change",
    response_model=LiveChange,
)
async def set_max_memory(
    name: str, engine: EngineDep, body: MaxMemoryBody, if_match: IfMatch = None
) -> LiveChange:
    return await change(
        engine,
        name,
        if_match,
        "set-max-memory",
        lambda: engine.set_max_memory(name, body.size_bytes),
    )


@routes.get(
    "/vms/{name}/disks",
    operation_id="vm_disk_list",
    permission="vm.read",
    response_model=list[VmDisk],
)
async def list_disks(name: str, engine: EngineDep) -> list[VmDisk]:
    return await call(engine.list_disks, name)


@routes.post(
    "/vms/{name}/disks",
    operation_id="vm_disk_add",
    permission="vm.change",
    status_code=201,
    response_model=DeviceChange,
)
async def add_disk(
    name: str, engine: EngineDep, body: DiskAddBody, if_match: IfMatch = None
) -> DeviceChange:
    req = DiskAdd(name=name, **body.model_dump())
    return await change(engine, name, if_match, "disk add", lambda: engine.add_disk(req))


@routes.delete(
    "/vms/{name}/disks/{target}",
    operation_id="vm_disk_remove",
    permission="vm.change",
    response_model=DeviceChange,
)
async def remove_disk(
    name: str,
    target: Target,
    engine: EngineDep,
    if_match: IfMatch = None,
    live: bool = False,
    config: bool = False,
    keep_file: bool = False,
) -> DeviceChange:
    return await change(
        engine,
        name,
        if_match,
        "disk remove",
        lambda: engine.remove_disk(name, target, live, config, keep_file),
    )


@routes.get(
    "/vms/{name}/nics",
    operation_id="vm_nic_list",
    permission="vm.read",
    response_model=list[VmNic],
)
async def list_nics(name: str, engine: EngineDep) -> list[VmNic]:
    return await call(engine.list_nics, name)


@routes.post(
    "/vms/{name}/nics",
    operation_id="vm_nic_add",
    permission="vm.change",
    status_code=201,
    response_model=DeviceChange,
)
async def add_nic(
    name: str, engine: EngineDep, body: NicAddBody, if_match: IfMatch = None
) -> DeviceChange:
    req = NicAdd(name=name, **body.model_dump())
    return await change(engine, name, if_match, "nic add", lambda: engine.add_nic(req))


@routes.delete(
    "/vms/{name}/nics/{mac}",
    operation_id="vm_nic_remove",
    permission="vm.change",
    response_model=DeviceChange,
)
async def remove_nic(
    name: str,
    mac: Mac,
    engine: EngineDep,
    if_match: IfMatch = None,
    live: bool = False,
    config: bool = False,
) -> DeviceChange:
    return await change(
        engine, name, if_match, "nic remove", lambda: engine.remove_nic(name, mac, live, config)
    )
