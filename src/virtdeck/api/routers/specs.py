"""``/vms/{name}/spec``, ``/plan`` and ``/apply``: a VM as a spec, and converging to one.

As ``virtdeck apply``: a plan first (what would change, changing nothing),
then the apply, which creates the VM or makes the listed changes.
"""

from __future__ import annotations

from fastapi import Request

from virtdeck.engine.schemas import ApplyResult, VmSpec

from ..calls import call, call_within
from ..deps import API_PREFIX, EngineDep
from ..routes import Routes

routes = Routes(prefix=API_PREFIX, tags=["specs"])
router = routes.router

# Applying may create a VM (a disk copy, a boot): longer than a plain call.
APPLY_DEADLINE = 900.0


@routes.get("/vms/{name}/spec", operation_id="vm_spec", permission="vm.read", response_model=VmSpec)
async def vm_spec(name: str, engine: EngineDep) -> VmSpec:
    return await call(engine.vm_spec, name)


@routes.post("/plan", operation_id="spec_plan", permission="vm.read", response_model=ApplyResult)
async def plan(engine: EngineDep, spec: VmSpec) -> ApplyResult:
    """What applying the spec would do, changing nothing (apply --dry-run)."""
    return await call(engine.apply_spec, spec, True)


@routes.post(
    "/apply", operation_id="spec_apply", permission="vm.change", response_model=ApplyResult
)
async def apply(request: Request, engine: EngineDep, spec: VmSpec) -> ApplyResult:
    """Create the VM the spec names, or change it to match."""
    request.state.resource = spec.name
    return await call_within(APPLY_DEADLINE, engine.apply_spec, spec, False)
