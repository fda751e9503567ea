"""``virtdeck serve``, ``login`` and ``logout``: running the API, and reaching one."""

from __future__ import annotations

import socket
import ssl
import sys
from datetime import date
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from virtdeck.errors import InvalidInput, Unauthenticated
from virtdeck.settings import Settings

from .context import AppState, console, err_console
from .passwords import read_password
from .remote import StoredLogin, certificate_file, forget_login, store_login

app = typer.Typer()


@app.command("serve")
def serve(
    ctx: typer.Context,
    listen: Annotated[
        str,
        typer.Option("--listen", metavar="HOST:PORT", help="Where to listen."),
    ] = "127.0.0.1:8780",
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", metavar="FILE", help="The server's TLS certificate (PEM)."),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option("--tls-key", metavar="FILE", help="The certificate's private key (PEM)."),
    ] = None,
) -> None:
    """Run the REST API in the foreground (TLS is required beyond loopback)."""
    from virtdeck.api import serve as api_serve  # noqa: PLC0415 - FastAPI only for the server
    from virtdeck.api import tls  # noqa: PLC0415

    state: AppState = ctx.ensure_object(AppState)
    where = api_serve.parse_listen(listen)
    settings = Settings.from_env(uri=state.uri, domain_type=state.domain_type)
    files = api_serve.choose_tls(where, settings, tls_cert, tls_key)
    url = where.url(files is not None)
    err_console.print(f"virtdeck API at {url}/api/v1 (docs: {url}/api/docs)", highlight=False)
    if files is not None:
        made = " (made now)" if files.made_now else ""
        err_console.print(
            f"TLS certificate {files.cert}{made}, SHA-256 fingerprint "
            f"{tls.fingerprint(files.cert.read_bytes())}",
            highlight=False,
        )
    api_serve.run(settings, where, files)


def _server_certificate(url: str) -> str:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    return ssl.get_server_certificate((host, port), timeout=10)


def _pin_certificate(server: str, accept: str | None) -> str | None:
    """For https: the server's certificate file to trust, when the system does not."""
    import httpx  # noqa: PLC0415

    if not server.startswith("https://"):
        return None
    try:
        httpx.get(f"{server}/health", timeout=10)
        return None  # a certificate the system trusts
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" not in str(exc):
            raise
    from virtdeck.api.tls import fingerprint  # noqa: PLC0415

    pem = _server_certificate(server)
    print_ = fingerprint(pem.encode())
    if accept is None and sys.stdin.isatty():
        err_console.print(f"The server's certificate is not trusted here; fingerprint:\n{print_}")
        if typer.confirm("Trust it for this server?", default=False):
            accept = print_
    if accept is None or accept.lower().replace(":", "") != print_.lower().replace(":", ""):
        raise InvalidInput(
            f"the certificate of {server} is not trusted here, and its fingerprint "
            f"{print_} was not accepted; compare it with the one the server printed "
            "and give it as the accepted fingerprint",
            field="accept_certificate",
        )
    path = certificate_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(pem)
    return str(path)


@app.command("login")
def login(
    server: Annotated[
        str, typer.Argument(metavar="URL", help="The server, e.g. http://host:8780.")
    ],
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Log in as this user (prompted if left out).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Store this token instead of logging in with a password."),
    ] = None,
    accept_certificate: Annotated[
        str | None,
        typer.Option(
            "--accept-certificate",
            metavar="SHA256",
            help="Trust the server's self-signed certificate with this fingerprint.",
        ),
    ] = None,
) -> None:
    """Log in to a virtdeck server: later commands go through it (logout to stop)."""
    from virtdeck.client.login import check_token, token_by_password  # noqa: PLC0415

    server = server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise InvalidInput(
            f"server {server!r} is not a URL; give one such as http://127.0.0.1:8780"
        )
    verify = _pin_certificate(server, accept_certificate)
    if token is None:
        if user is None:
            if not sys.stdin.isatty():
                raise Unauthenticated("logging in needs a user name; give it", field="user")
            user = typer.prompt("User")
        password = read_password(confirm=False)
        name = f"cli-{socket.gethostname()}-{date.today().isoformat()}"
        token, who = token_by_password(server, user, password, name, verify)
    else:
        who = check_token(server, token, verify)
    path = store_login(StoredLogin(server=server, token=token, certificate=verify, user=who))
    console.print(f"Logged in to {server} as {who}; the token is kept in {path}", highlight=False)


@app.command("logout")
def logout() -> None:
    """Forget the stored login: commands run on this host again."""
    if forget_login():
        console.print("Logged out; commands run on this host again")
    else:
        console.print("Not logged in to any server")
