"""Who is calling: a bearer token or a browser session, and what it may do.

Each route names its permission where it is declared (``routes.py``); this
module turns a request into a ``Principal`` and checks that permission
against the principal's role (``engine/roles.py`` decides what each role
allows). A cookie session must also send its CSRF token on every unsafe
method: the cookie alone comes with any cross-site form post.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Request

from virtdeck.engine.roles import Permission, Principal, allows
from virtdeck.errors import Forbidden, Unauthenticated

from .calls import call

if TYPE_CHECKING:
    from .server import Server

SESSION_COOKIE = "virtdeck_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def server_of(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(request: Request) -> Principal:
    """The caller, from its token or its session; Unauthenticated when neither holds."""
    accounts = server_of(request).engine.accounts
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated(
                "the Authorization header must be 'Bearer' and a token; create a token "
                "and send it that way"
            )
        known = accounts.known_token(secret.strip())
        if known is not None:
            return known  # checked within seconds: no database round trip
        return await call(accounts.authenticate_token, secret.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal, csrf = await call(accounts.session, cookie)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf.encode()):
                raise Forbidden(
                    f"a change made with a login session needs its CSRF token in the "
                    f"{CSRF_HEADER} header (login answers it); send it with the request"
                )
        return principal
    raise Unauthenticated(
        "this needs credentials: a token (Authorization: Bearer TOKEN) or a login session"
    )


def check_permission(principal: Principal, permission: Permission) -> None:
    if not allows(principal.role, permission):
        raise Forbidden(
            f"user {principal.user} ({principal.role}) may not do this: it needs "
            f"the {permission} permission; ask an admin"
        )
