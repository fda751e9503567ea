"""A real virtdeck API server on loopback, for tests: uvicorn in a thread of this process.

In this process, so that it shares libvirt's test driver state with the test
(test:///default is one state per process while a connection holds it); on
a real port, so that every request crosses real HTTP. Integration tests
that need the real host start ``virtdeck serve`` as a process instead
(``serve_process``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from tests.cli_runner import virtdeck_command
from virtdeck.api.app import create_app
from virtdeck.api.server import Server
from virtdeck.client.tls import trust
from virtdeck.engine.engine import Engine
from virtdeck.engine.roles import Role
from virtdeck.settings import Settings

ADMIN_PASSWORD = "admin-password-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    engine: Engine
    admin_token: str
    thread: threading.Thread
    uvicorn_server: uvicorn.Server

    def token_for(self, user: str, role: Role, password: str = "password-" + "x" * 8) -> str:
        """A token of a new user with ``role`` (the user is made if missing)."""
        if user not in {u.name for u in self.engine.list_users()}:
            self.engine.add_user(user, role, password)
        return self.engine.create_token(f"t-{user}-{time.monotonic_ns()}", user).secret

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.uvicorn_server.should_exit = True
        self.thread.join(timeout=10)
        self.engine.close()


def start_live_server(settings: Settings) -> LiveServer:
    engine = Engine(settings)
    _ = engine.host_id
    app = create_app(Server(engine=engine, settings=settings))
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test api server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test API server did not start")
        time.sleep(0.02)
    if "admin" not in {u.name for u in engine.list_users()}:
        engine.add_user("admin", "admin", ADMIN_PASSWORD)
    token = engine.create_token("tests", "admin").secret
    return LiveServer(f"http://127.0.0.1:{port}", engine, token, thread, server)


@contextlib.contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = start_live_server(settings)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def serve_process(
    data_dir: Path,
    uri: str,
    env: dict[str, str] | None = None,
    listen_host: str = "127.0.0.1",
    verify: bool | str = True,
    serve_args: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``virtdeck serve`` as a process of its own, on a free port; its URL (via loopback).

    Beyond loopback (``listen_host="0.0.0.0"``) it serves TLS; the URL is
    then https on 127.0.0.1 and ``verify`` the certificate to trust.
    """
    port = free_port()
    secure = listen_host not in ("127.0.0.1", "localhost", "::1")
    full_env = {**os.environ, "VIRTDECK_DATA_DIR": str(data_dir), **(env or {})}
    data_dir.mkdir(parents=True, exist_ok=True)
    # A file, not a pipe: a server's log would fill a pipe nobody reads and stall it.
    log = open(data_dir / "serve.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        virtdeck_command("-c", uri, "serve", "--listen", f"{listen_host}:{port}", *serve_args),
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"{'https' if secure else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.flush()
                raise RuntimeError(f"virtdeck serve exited: {(data_dir / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2, verify=trust(verify)).status_code == 200:
                    break
            except httpx.TransportError:
                if secure and (data_dir / "tls" / "server.crt").exists() and verify is True:
                    verify = str(data_dir / "tls" / "server.crt")
            if time.monotonic() > deadline:
                raise RuntimeError("virtdeck serve did not answer within 30 s")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
