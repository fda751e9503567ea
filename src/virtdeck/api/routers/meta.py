"""The public few: ``/health``, the API root with its extensions, login and logout."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request, Response

from virtdeck import __version__
from virtdeck.errors import Unauthenticated

from ..auth import SESSION_COOKIE, authenticate, client_address, server_of
from ..calls import call
from ..routes import Routes
from ..schemas import ApiRoot, Health, LoginAnswer, LoginBody

routes = Routes(tags=["meta"])
router = routes.router

API_VERSION = "1.0"
# Append-only: a client tests for a name here instead of comparing versions.
# Never remove or rename one; add a new name for a changed behaviour.
API_EXTENSIONS = (
    "vms",
    "vm_etag",
    "operations",
    "operations_wait",
    "snapshots",
    "history",
    "specs",
    "devices",
    "hosts",
    "users",
    "tokens",
    "sessions",
    "audit",
    "events_sse",
    "metrics",
)


@routes.get("/health", operation_id="health", public=True, response_model=Health)
async def health(request: Request) -> Health:
    """Answers while the server runs, without waiting on libvirt."""
    conn = server_of(request).engine.host.current_conn()
    if conn is None:
        return Health(status="ok", libvirt="unknown")
    try:
        alive = bool(conn.isAlive())
    except Exception:
        alive = False
    return Health(status="ok", libvirt="connected" if alive else "unreachable")


@routes.get("/api/v1", operation_id="api_root", public=True, response_model=ApiRoot)
async def api_root(request: Request) -> ApiRoot:
    """The API version and its extensions; no credentials needed."""
    trusted = bool(request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE))
    return ApiRoot(
        api_version=API_VERSION,
        api_extensions=list(API_EXTENSIONS),
        server_version=__version__,
        auth="trusted" if trusted else "untrusted",
    )


def _set_session_cookie(request: Request, response: Response, secret: str, until: datetime) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        expires=until,
        path="/",
        httponly=True,
        samesite="strict",
        secure=server_of(request).tls,
    )


@routes.post("/api/v1/login", operation_id="login", public=True, response_model=LoginAnswer)
async def login(request: Request, response: Response, body: LoginBody) -> LoginAnswer:
    """A browser session: an HttpOnly cookie, and the CSRF token its changes must send."""
    accounts = server_of(request).engine.accounts
    made = await call(accounts.login, body.user, body.password, client_address(request))
    _set_session_cookie(request, response, made.secret, made.expires_at)
    return LoginAnswer(
        user=made.principal.user,
        role=made.principal.role,
        csrf_token=made.csrf_token,
        expires_at=made.expires_at.isoformat(),
    )


@routes.post("/api/v1/logout", operation_id="logout", public=True, status_code=204)
async def logout(request: Request) -> Response:
    """Ends the cookie's session; without one there is nothing to end."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated("there is no login session to end")
    # The session itself, and its CSRF token: a page elsewhere cannot log a user out.
    await authenticate(request)
    await call(server_of(request).engine.accounts.logout, cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
