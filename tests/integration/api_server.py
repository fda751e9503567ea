"""``virtdeck serve`` on the real host for integration tests, with an admin token.

The server is a process of its own (``serve_process``) on this session's
settings and data dir, so the engine of the test and the server share the
database: the test makes the admin user and its token in-process, and the
server takes the token.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from tests.integration.conftest import URI, env_for_cli
from tests.service.live_server import serve_process
from virtdeck.engine import Engine
from virtdeck.settings import Settings

ADMIN = "admin"
ADMIN_PASSWORD = "integration-admin-password"


@dataclass(frozen=True)
class Served:
    url: str
    token: str
    log: str  # the path of the server's log (stdout and stderr)

    def client(self, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def admin_token(engine: Engine) -> str:
    """A new token of the admin user (made when missing) in the engine's database."""
    if ADMIN not in {u.name for u in engine.list_users()}:
        engine.add_user(ADMIN, "admin", ADMIN_PASSWORD)
    return engine.create_token(f"it-{time.monotonic_ns()}", ADMIN).secret


@contextlib.contextmanager
def served(
    engine: Engine, settings: Settings, env_extra: dict[str, str] | None = None
) -> Iterator[Served]:
    """``virtdeck serve`` on qemu:///system with this session's pool, images and data dir."""
    token = admin_token(engine)
    env = {**env_for_cli(settings), **(env_extra or {})}
    with serve_process(settings.data_dir, URI, env) as (url, _proc):
        yield Served(url=url, token=token, log=str(settings.data_dir / "serve.log"))
