"""Declaring routes: each one names its permission and its operation id, in one place.

``Routes`` wraps FastAPI's router so that a route cannot be declared without
saying who may call it (``permission=``, or ``public=True`` for the short
list that needs no credentials), as Proxmox declares each method's
permission beside the method. The permission shows in the OpenAPI document
(``x-virtdeck-permission``), and every unsafe call is written to the audit
log with its outcome, whoever made it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request

from virtdeck.engine.actors import Actor, current_actor
from virtdeck.engine.roles import Permission, Principal
from virtdeck.errors import VirtdeckError

from .auth import SAFE_METHODS, authenticate, check_permission, client_address, server_of
from .calls import call
from .deps import API_PREFIX
from .problems import problem_responses

F = TypeVar("F", bound=Callable[..., Any])

PERMISSION_KEY = "x-virtdeck-permission"
PUBLIC = "public"


async def _audit(request: Request, principal: Principal, outcome: str) -> None:
    route = request.scope.get("route")
    action = (getattr(route, "operation_id", None) or request.url.path).replace("_", ".", 1)
    params = dict(request.path_params)
    # A VM's sub-resources (its snapshots, disks, NICs) are changes to the VM:
    # filed under it, so that 'audit list --vm' finds them; the rest in detail.
    if "name" in params and request.url.path.startswith(f"{API_PREFIX}/vms/"):
        kind, resource = "vm", params.pop("name")
    else:
        kind = action.split(".", 1)[0]
        resource = getattr(request.state, "resource", None) or params.pop("name", "")
    detail = ", ".join(f"{key}={value}" for key, value in params.items())
    await call(
        server_of(request).engine.accounts.record_audit,
        user=principal.user,
        via=principal.via,
        client=client_address(request),
        action=action,
        resource_kind=kind,
        resource=str(resource),
        outcome=outcome,
        operation_id=getattr(request.state, "operation_id", None),
        detail=detail,
    )


def _needs(permission: Permission) -> Callable[[Request], AsyncIterator[Principal]]:
    async def dependency(request: Request) -> AsyncIterator[Principal]:
        principal = await authenticate(request)
        request.state.principal = principal
        unsafe = request.method not in SAFE_METHODS
        try:
            check_permission(principal, permission)
            # The engine notes who caused what (events name their actor).
            current_actor.set(
                Actor(user=principal.user, via=principal.via, client=client_address(request))
            )
            yield principal
        except VirtdeckError as exc:
            if unsafe:
                await _audit(request, principal, exc.code)
            raise
        else:
            if unsafe:
                await _audit(request, principal, "ok")
        finally:
            if unsafe:
                # Not every change sends a libvirt event (an autostart flag).
                server_of(request).engine.forget_cached_vms()

    return dependency


class Routes:
    """An APIRouter whose routes each declare a permission (or that they are public)."""

    def __init__(self, prefix: str = "", tags: list[str] | None = None) -> None:
        self.router = APIRouter(prefix=prefix, tags=list(tags or []))

    def route(
        self,
        method: str,
        path: str,
        *,
        operation_id: str,
        permission: Permission | None = None,
        public: bool = False,
        **kwargs: Any,
    ) -> Callable[[F], F]:
        if (permission is None) == (not public):
            raise ValueError(f"route {operation_id} must name a permission or be public")
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        extra[PERMISSION_KEY] = PUBLIC if permission is None else permission
        dependencies = list(kwargs.pop("dependencies", None) or [])
        responses = {**problem_responses(), **dict(kwargs.pop("responses", None) or {})}
        if permission is not None:
            dependencies.append(Depends(_needs(permission)))

        def decorate(endpoint: F) -> F:
            self.router.add_api_route(
                path,
                endpoint,
                methods=[method],
                operation_id=operation_id,
                dependencies=dependencies,
                openapi_extra=extra,
                responses=responses,
                **kwargs,
            )
            return endpoint

        return decorate

    def get(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("DELETE", path, **kwargs)
