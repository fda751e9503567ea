"""The remote switch: which server a command goes to, with which token.

A command goes through the API when it is given a server (``--server`` or
``VIRTDECK_SERVER``), or when ``virtdeck login`` has stored one and no
libvirt URI was asked for. The stored login is a JSON file in the user's
config directory, mode 0600 from its first byte: it holds a token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from virtdeck.errors import InvalidInput, Unauthenticated

SERVER_ENV = "VIRTDECK_SERVER"
TOKEN_ENV = "VIRTDECK_TOKEN"


class StoredLogin(BaseModel):
    server: str
    token: str
    # The server's own certificate (a self-signed one, pinned at login), or None
    # for one the system trusts.
    certificate: str | None = None
    user: str | None = None


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "virtdeck"


def login_path() -> Path:
    return config_dir() / "login.json"


def stored_login() -> StoredLogin | None:
    path = login_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the stored login {path} ({exc.strerror}); remove it"
        ) from exc
    try:
        return StoredLogin.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidInput(
            f"the stored login {path} is damaged; remove it and log in again"
        ) from exc


def store_login(login: StoredLogin) -> Path:
    path = login_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(login.model_dump(), out, indent=2)
    os.replace(tmp, path)
    return path


def forget_login() -> bool:
    try:
        login_path().unlink()
    except FileNotFoundError:
        return False
    return True


def certificate_file() -> Path:
    """Where login keeps a server's pinned self-signed certificate."""
    return config_dir() / "server.crt"


@dataclass(frozen=True)
class Remote:
    server: str
    token: str
    verify: bool | str


def choose_remote(server: str | None, token: str | None, uri: str | None) -> Remote | None:
    """The server to go through, or None to run the engine here."""
    login = stored_login() if server is None and uri is None else None
    if server is None and login is None:
        return None
    if server is None and login is not None:
        server = login.server
    assert server is not None
    if not server.startswith(("http://", "https://")):
        raise InvalidInput(
            f"server {server!r} is not a URL; give one such as http://127.0.0.1:8780",
            field="server",
        )
    if token is None:
        login = login or stored_login()
        if login is not None and login.server.rstrip("/") == server.rstrip("/"):
            token = login.token
    if not token:
        raise Unauthenticated(
            f"server {server} needs a token: give one, or log in to the server first",
            field="token",
        )
    verify: bool | str = True
    if login is not None and login.certificate and login.server.rstrip("/") == server.rstrip("/"):
        verify = login.certificate
    return Remote(server, token, verify)
