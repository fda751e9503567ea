"""Getting a token from a server with a user's password (``virtdeck login``)."""

from __future__ import annotations

import httpx

from virtdeck.errors import HostUnavailable

from .problems import error_from_response
from .tls import trust

# How long a token made by login lasts: long enough not to annoy, short
# enough that a forgotten laptop's token dies by itself.
LOGIN_TOKEN_DAYS = 90


def _client(server: str, verify: str | None) -> httpx.Client:
    return httpx.Client(base_url=server, verify=trust(verify), timeout=30)


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        raise error_from_response(response)
    return response


def token_by_password(
    server: str, user: str, password: str, token_name: str, verify: str | None
) -> tuple[str, str]:
    """A new token of ``user``'s (made through a short login session), and the user."""
    try:
        with _client(server, verify) as http:
            session = _checked(
                http.post("/api/v1/login", json={"user": user, "password": password})
            ).json()
            csrf = {"X-CSRF-Token": session["csrf_token"]}
            made = _checked(
                http.post(
                    "/api/v1/tokens",
                    json={"name": token_name, "user": user, "expires_days": LOGIN_TOKEN_DAYS},
                    headers=csrf,
                )
            ).json()
            http.post("/api/v1/logout", headers=csrf)
    except httpx.TransportError as exc:
        raise HostUnavailable(f"cannot reach the virtdeck server at {server} ({exc})") from exc
    return str(made["secret"]), str(session["user"])


def check_token(server: str, token: str, verify: str | None) -> str:
    """The user ``token`` belongs to, asked of the server (a wrong token: Unauthenticated)."""
    try:
        with _client(server, verify) as http:
            answer = _checked(
                http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
            ).json()
    except httpx.TransportError as exc:
        raise HostUnavailable(f"cannot reach the virtdeck server at {server} ({exc})") from exc
    return str(answer["user"])
