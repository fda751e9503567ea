"""``virtdeck serve`` as a user runs it: its own process, TLS beyond loopback, its log."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.cli_runner import run_virtdeck, virtdeck_command
from tests.service.live_server import serve_process
from virtdeck.api.tls import fingerprint, self_signed
from virtdeck.client.tls import trust

TEST_URI = "test:///default"
PASSWORD = "a-password-to-look-for"


def test_beyond_loopback_it_speaks_only_tls_with_a_certificate_it_made(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve_process(data, TEST_URI, listen_host="0.0.0.0") as (url, _proc):
        cert = data / "tls" / "server.crt"
        key = data / "tls" / "server.key"
        assert key.stat().st_mode & 0o777 == 0o600
        log = (data / "serve.log").read_text()
        printed = re.search(r"SHA-256 fingerprint ([0-9a-f:]{95})", log)
        assert printed and printed.group(1) == fingerprint(cert.read_bytes())
        assert url.startswith("https://")
        assert httpx.get(f"{url}/health", verify=trust(str(cert))).json()["status"] == "ok"
        # Not trusted by the system: a client that did not pin it refuses.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health")
        # Plain HTTP gets no answer on a TLS port.
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https://", "http://") + "/health")
        served = ssl.get_server_certificate(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        assert fingerprint(served.encode()) == printed.group(1)


def test_no_password_or_token_reaches_the_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "VIRTDECK_DATA_DIR": str(data)}
    with serve_process(data, TEST_URI) as (url, _proc):
        # The first admin, made by the CLI on the host in the server's database.
        added = subprocess.run(
            virtdeck_command("-c", TEST_URI, "user", "add", "boss", "--role", "admin"),
            input=PASSWORD + "\n",
            text=True,
            env=env,
            capture_output=True,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        with httpx.Client(base_url=url, timeout=30) as http:
            login = http.post("/api/v1/login", json={"user": "boss", "password": PASSWORD})
            assert login.status_code == 200, login.text
            csrf = login.json()["csrf_token"]
            made = http.post("/api/v1/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf})
            secret = made.json()["secret"]
            http.post("/api/v1/login", json={"user": "boss", "password": PASSWORD + "x"})
            bearer = {"Authorization": f"Bearer {secret}"}
            assert http.get("/api/v1/vms", headers=bearer).status_code == 200
            http.get("/api/v1/vms", headers={"Authorization": f"Bearer {secret}x"})
            audit = http.get("/api/v1/audit", headers=bearer, params={"limit": 1000}).text
            cookie = login.cookies.get("virtdeck_session") or ""
    log = (data / "serve.log").read_text()
    assert '"POST /api/v1/login" 200' in log and '"GET /api/v1/vms" 200' in log
    for secret_text in (PASSWORD, secret, secret[4:], cookie, csrf):
        assert secret_text and secret_text not in log
        assert secret_text not in audit
    database = b"".join(p.read_bytes() for p in data.glob("virtdeck.db*"))
    for secret_text in (PASSWORD, secret, cookie):
        assert secret_text.encode() not in database


def test_the_operators_certificate_and_a_login_that_pins_it(tmp_path: Path) -> None:
    """--tls-cert/--tls-key serve the operator's own; login --accept-certificate pins it."""
    made = self_signed(tmp_path / "mine", "127.0.0.1")
    data = tmp_path / "data"
    env = {**os.environ, "VIRTDECK_DATA_DIR": str(data)}
    args = ("--tls-cert", str(made.cert), "--tls-key", str(made.key))
    with serve_process(
        data, TEST_URI, listen_host="0.0.0.0", verify=str(made.cert), serve_args=args
    ) as (url, _proc):
        assert not (data / "tls").exists()  # nothing made: the given pair is served
        added = subprocess.run(
            virtdeck_command("-c", TEST_URI, "user", "add", "pin", "--role", "viewer"),
            input=PASSWORD + "\n",
            text=True,
            env=env,
            capture_output=True,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        token = subprocess.run(
            virtdeck_command("-c", TEST_URI, "token", "create", "pinned", "--user", "pin"),
            text=True,
            env=env,
            capture_output=True,
            check=True,
        ).stdout.strip()
        config = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        config.pop("VIRTDECK_DATA_DIR", None)
        wrong = run_virtdeck(
            "login", url, "--token", token, "--accept-certificate", "00:11", env=config
        )
        assert wrong.returncode == 4 and "not trusted" in wrong.stderr
        assert token not in wrong.stderr
        print_ = fingerprint(made.cert.read_bytes())
        logged = run_virtdeck(
            "login", url, "--token", token, "--accept-certificate", print_, env=config
        )
        assert logged.returncode == 0, logged.stderr
        assert "as pin" in logged.stdout
        listed = run_virtdeck("vm", "list", "--json", env=config)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)[0]["name"] == "test"
