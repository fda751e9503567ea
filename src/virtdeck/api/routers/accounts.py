"""``/users``, ``/tokens``, ``/audit`` and ``/whoami``: who may do what, and what was done.

Managing users is an admin's; every user may see itself and manage its own
tokens (``account.self``), and an admin those of anyone: the route names the
broader permission, and a call about another user also needs
``user.manage``, checked here beside it, as Proxmox's "self" rule does.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, Field

from virtdeck.engine.account_schemas import AuditEntry, TokenCreated, TokenInfo, UserInfo
from virtdeck.engine.roles import Principal, Role, allows

from ..auth import check_permission
from ..calls import call
from ..deps import API_PREFIX, PAGE_LIMIT_MAX, EngineDep
from ..routes import Routes
from ..schemas import STORED_INT_MAX, Body, Page

routes = Routes(prefix=API_PREFIX, tags=["accounts"])
router = routes.router

UserName = Annotated[str, Path(max_length=64)]
TokenId = Annotated[str, Path(max_length=64)]


class UserBody(Body):
    name: str = Field(max_length=64)
    role: Role
    password: str = Field(max_length=1024)


class PasswordBody(Body):
    password: str = Field(max_length=1024)


class TokenBody(Body):
    name: str = Field(max_length=128)
    user: str | None = Field(default=None, max_length=64)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class WhoAmI(BaseModel):
    user: str
    role: str
    via: str


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _about_other(request: Request, user: str | None) -> None:
    principal = _principal(request)
    if user is not None and user != principal.user:
        check_permission(principal, "user.manage")


@routes.get("/whoami", operation_id="whoami", permission="account.self", response_model=WhoAmI)
async def whoami(request: Request) -> WhoAmI:
    principal = _principal(request)
    return WhoAmI(user=principal.user, role=principal.role, via=principal.via)


@routes.get(
    "/users", operation_id="user_list", permission="user.manage", response_model=list[UserInfo]
)
async def list_users(engine: EngineDep) -> list[UserInfo]:
    return await call(engine.list_users)


@routes.post(
    "/users",
    operation_id="user_add",
    permission="user.manage",
    status_code=201,
    response_model=UserInfo,
)
async def add_user(request: Request, engine: EngineDep, body: UserBody) -> UserInfo:
    request.state.resource = body.name
    return await call(engine.add_user, body.name, body.role, body.password)


@routes.put(
    "/users/{name}/password",
    operation_id="user_passwd",
    permission="account.self",
    response_model=UserInfo,
)
async def set_password(
    request: Request, name: UserName, engine: EngineDep, body: PasswordBody
) -> UserInfo:
    _about_other(request, name)
    return await call(engine.set_password, name, body.password)


@routes.delete(
    "/users/{name}", operation_id="user_remove", permission="user.manage", status_code=204
)
async def remove_user(name: UserName, engine: EngineDep) -> Response:
    await call(engine.remove_user, name)
    return Response(status_code=204)


@routes.get(
    "/tokens",
    operation_id="token_list",
    permission="account.self",
    response_model=list[TokenInfo],
)
async def list_tokens(
    request: Request,
    engine: EngineDep,
    user: Annotated[
        str | None, Query(max_length=64, description="Whose; all for an admin.")
    ] = None,
) -> list[TokenInfo]:
    principal = _principal(request)
    if user is None and not _may_manage(principal):
        user = principal.user
    _about_other(request, user)
    return await call(engine.list_tokens, user)


@routes.post(
    "/tokens",
    operation_id="token_create",
    permission="account.self",
    status_code=201,
    response_model=TokenCreated,
)
async def create_token(request: Request, engine: EngineDep, body: TokenBody) -> TokenCreated:
    """A new token; its secret is in this answer and nowhere else, ever."""
    user = body.user or _principal(request).user
    _about_other(request, user)
    request.state.resource = body.name
    return await call(engine.create_token, body.name, user, body.expires_days)


@routes.delete(
    "/tokens/{token_id}",
    operation_id="token_revoke",
    permission="account.self",
    response_model=TokenInfo,
)
async def revoke_token(request: Request, token_id: TokenId, engine: EngineDep) -> TokenInfo:
    principal = _principal(request)
    if not _may_manage(principal):
        own = await call(engine.list_tokens, principal.user)
        if token_id not in {t.id for t in own}:
            check_permission(principal, "user.manage")
    request.state.resource = token_id
    return await call(engine.revoke_token, token_id)


@routes.get(
    "/audit",
    operation_id="audit_list",
    permission="audit.read",
    response_model=Page[AuditEntry],
)
async def list_audit(
    request: Request,
    engine: EngineDep,
    user: Annotated[str | None, Query(max_length=64)] = None,
    vm: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX)] = 50,
    after: Annotated[
        int | None, Query(ge=1, le=STORED_INT_MAX, description="The cursor: older than this id.")
    ] = None,
) -> Page[AuditEntry]:
    """The audit log, newest first, a page at a time."""
    entries = await call(engine.list_audit, user, vm, limit + 1, after)
    more = len(entries) > limit
    entries = entries[:limit]
    link = None
    if more and entries:
        params = {k: v for k, v in request.query_params.items() if k not in ("after", "limit")}
        params.update({"limit": str(limit), "after": str(entries[-1].id)})
        link = f"{request.url.path}?{urlencode(params)}"
    return Page[AuditEntry](items=entries, next=link)


def _may_manage(principal: Principal) -> bool:
    return allows(principal.role, "user.manage")
