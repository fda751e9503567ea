"""Wire types: what requests send in, beside the engine's own schemas that go out.

The engine's Pydantic models (engine/schemas.py) are what responses carry;
this module adds only what HTTP itself needs: the bodies of actions, a page
of a list, the API root. Split by verb, as Incus splits its API types.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from virtdeck.engine.schemas import VmCreate, VmSummary

T = TypeVar("T")

# The longest a request may ask to wait or take, in seconds (a day).
SECONDS_MAX = 86400.0
# The largest id or version number the store holds (a 32-bit INTEGER column on
# PostgreSQL): past it a query fails in the database instead of finding nothing.
STORED_INT_MAX = 2**31 - 1


class Body(BaseModel):
    """A request body: unknown keys are refused, so a typo is never silently ignored.

    Strict: ``"2"`` or ``true`` for a count is refused, not taken as 2 or 1
    (as a spec is, engine/schemas.VmSpec).
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next`` is the link to the page after it, or None."""

    items: list[T]
    next: str | None = None


class HostedVm(VmSummary):
    """A VM in a list, with the host it is on."""

    host: str


class ApiRoot(BaseModel):
    api_version: str
    api_extensions: list[str]
    server_version: str
    auth: Literal["untrusted", "trusted"]


class Health(BaseModel):
    status: Literal["ok"]
    libvirt: Literal["connected", "unreachable", "unknown"]


class StopBody(Body):
    timeout: float = Field(default=60.0, gt=0, le=SECONDS_MAX)
    force: bool = False


class RebootBody(Body):
    timeout: float = Field(default=60.0, gt=0, le=SECONDS_MAX)
    force: bool = False


class AutostartBody(Body):
    enabled: bool


class RenameBody(Body):
    new_name: str


class CloneBody(Body):
    new_name: str
    linked: bool = False


class CpusBody(Body):
    count: int = Field(ge=0, le=1 << 31)
    live: bool = False
    config: bool = False


class MaxCpusBody(Body):
    count: int = Field(ge=0, le=1 << 31)


class MemoryBody(Body):
    size_bytes: int = Field(ge=0, le=1 << 62)
    live: bool = False
    config: bool = False


class MaxMemoryBody(Body):
    size_bytes: int = Field(ge=0, le=1 << 62)


class DiskAddBody(Body):
    size_bytes: int | None = Field(default=None, ge=1, le=1 << 62)
    path: str | None = None
    target: str | None = None
    live: bool = False
    config: bool = False


class NicAddBody(Body):
    network: str
    mac: str | None = None
    model: str = "virtio"
    live: bool = False
    config: bool = False


class SnapshotBody(Body):
    name: str | None = None
    disk_only: bool = False
    description: str = Field(default="", max_length=4096)


class RestoreBody(Body):
    version: int | None = Field(default=None, ge=1, le=STORED_INT_MAX)
    uuid: str | None = None


class XmlBody(Body):
    xml: str


class LoginBody(Body):
    user: str = Field(max_length=256)
    password: str = Field(max_length=4096)


class LoginAnswer(BaseModel):
    user: str
    role: str
    csrf_token: str
    expires_at: str


class VmCreateBody(VmCreate):
    """The engine's create request as a body: strict, unknown keys refused, as every Body."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)
