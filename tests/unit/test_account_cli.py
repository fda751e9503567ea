"""``virtdeck user``, ``token`` and ``audit`` on the local engine, end to end.

Each command runs through the CLI as a user types it (tests/cli_runner.py),
on a data dir of its own; what it did is then checked through the engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.cli_runner import invoke_virtdeck, run_virtdeck

from virtdeck.engine import Engine
from virtdeck.errors import Unauthenticated
from virtdeck.settings import Settings

TEST_URI = "test:///default"
PASSWORD = "a long enough password"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(data_dir: Path, tmp_path: Path) -> Iterator[CliRun]:
    """``cli(*args, input=...)``: in this process, or as a process of its own (``proc=True``,
    where the error boundary of ``virtdeck`` decides the exit code)."""

    def run(*args: str, input: str | None = None, proc: bool = False) -> Ran:
        if not proc:
            env = {"VIRTDECK_DATA_DIR": str(data_dir)}
            result = invoke_virtdeck("-c", TEST_URI, *args, env=env, input=input)
            return Ran(result.exit_code, result.stdout, result.stderr)
        stdin = tmp_path / "stdin"
        stdin.write_text(input or "")
        with stdin.open() as fh:
            done = run_virtdeck(
                "-c",
                TEST_URI,
                *args,
                env={**os.environ, "VIRTDECK_DATA_DIR": str(data_dir)},
                stdin=fh,
            )
        return Ran(done.returncode, done.stdout, done.stderr)

    yield run


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


CliRun = Callable[..., Ran]


@pytest.fixture
def engine(data_dir: Path) -> Iterator[Engine]:
    """The same data dir's engine, to check what the commands did."""
    eng = Engine(Settings(uri=TEST_URI, data_dir=data_dir))
    yield eng
    eng.close()


def _one_error_line(result: Ran) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


def test_users_are_added_listed_given_passwords_and_removed(cli: CliRun, engine: Engine) -> None:
    added = cli("user", "add", "alice", "--role", "admin", input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "Added user alice (admin)"
    as_json = cli("user", "add", "bob", "--role", "viewer", "--json", input=PASSWORD + "\n")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["role"] == "viewer"
    # The password came from standard input: it logs in.
    assert engine.accounts.login("alice", PASSWORD, "127.0.0.1").principal.role == "admin"

    listed = cli("user", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "CREATED", "PASSWORD", "CHANGED"]
    assert [line.split()[:2] for line in lines[1:]] == [["alice", "admin"], ["bob", "viewer"]]
    users = json.loads(cli("user", "list", "--json").stdout)
    assert [u["name"] for u in users] == ["alice", "bob"]
    assert not any("hash" in key for u in users for key in u)
    assert "argon2" not in listed.stdout + json.dumps(users)

    changed = cli("user", "passwd", "bob", input="the new password\n")
    assert changed.exit_code == 0 and "Changed the password of user bob" in changed.stdout
    assert engine.accounts.login("bob", "the new password", "127.0.0.1").principal.user == "bob"
    again = cli("user", "passwd", "bob", "--json", input="yet another password\n")
    assert json.loads(again.stdout)["name"] == "bob"

    # Not on a terminal, removing asks for --yes rather than guessing.
    unasked = cli("user", "remove", "bob", proc=True)
    assert unasked.exit_code == 4 and "--yes" in _one_error_line(unasked)
    assert "bob" in {u.name for u in engine.list_users()}
    removed = cli("user", "remove", "bob", "--yes")
    assert removed.exit_code == 0 and "Removed user bob" in removed.stdout
    last = cli("user", "remove", "alice", "-y", proc=True)
    assert last.exit_code == 3 and "last admin" in _one_error_line(last)
    assert [u.name for u in engine.list_users()] == ["alice"]


def test_a_wrong_role_is_one_sentence_and_exit_4(cli: CliRun, engine: Engine) -> None:
    result = cli("user", "add", "carol", "--role", "wizard", input=PASSWORD + "\n", proc=True)
    assert result.exit_code == 4
    line = _one_error_line(result)
    assert line == "error: there is no role 'wizard'; use one of admin, operator, viewer"
    as_json = cli(
        "user", "add", "carol", "--role", "wizard", "--json", input=PASSWORD + "\n", proc=True
    )
    assert as_json.exit_code == 4
    assert json.loads(as_json.stderr)["error"]["code"] == "invalid_input"
    assert engine.list_users() == []


@pytest.mark.parametrize(
    ("password", "words"),
    [("", "no password came on standard input"), ("short\n", "at least 8 characters")],
)
def test_a_missing_or_short_password_is_refused(
    cli: CliRun, engine: Engine, password: str, words: str
) -> None:
    result = cli("user", "add", "carol", "--role", "viewer", input=password, proc=True)
    assert result.exit_code == 4 and words in _one_error_line(result)
    assert "short" not in result.stderr  # a password is never repeated back
    assert engine.list_users() == []


def test_a_token_is_printed_once_and_then_only_listed(cli: CliRun, engine: Engine) -> None:
    engine.add_user("alice", "operator", PASSWORD)
    made = cli("token", "create", "ci", "--user", "alice", "--expires", "30d")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    # The secret alone on stdout (TOKEN=$(virtdeck token create ...)); the rest on stderr.
    assert secret.startswith("vdt_") and "\n" not in secret
    assert "shown only now" in made.stderr and "until" in made.stderr
    principal = engine.accounts.authenticate_token(secret)
    assert principal.user == "alice"

    as_json = json.loads(cli("token", "create", "backup", "-u", "alice", "--json").stdout)
    assert as_json["secret"].startswith("vdt_") and as_json["expires_at"] is None

    listed = cli("token", "list")
    assert listed.exit_code == 0
    assert secret not in listed.stdout and as_json["secret"] not in listed.stdout
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [(r[1], r[2], r[-1]) for r in rows] == [
        ("ci", "alice", "active"),
        ("backup", "alice", "active"),
    ]
    mine = json.loads(cli("token", "list", "--user", "alice", "--json").stdout)
    assert [t["name"] for t in mine] == ["ci", "backup"]
    assert not any("secret" in t for t in mine)

    token_id = mine[0]["id"]
    revoked = cli("token", "revoke", token_id)
    assert revoked.exit_code == 0 and f"Revoked token {token_id} (ci)" in revoked.stdout
    with pytest.raises(Unauthenticated):
        engine.accounts.authenticate_token(secret)
    again = json.loads(cli("token", "revoke", token_id, "--json").stdout)
    assert again["state"] == "revoked"
    unknown = cli("token", "revoke", "t-00000000", proc=True)
    assert unknown.exit_code == 2 and "no token 't-00000000'" in _one_error_line(unknown)


@pytest.mark.parametrize("expires", ["5y", "0d", "9999d", "soon"])
def test_a_bad_expiry_is_refused(cli: CliRun, engine: Engine, expires: str) -> None:
    engine.add_user("alice", "operator", PASSWORD)
    result = cli("token", "create", "ci", "--user", "alice", "--expires", expires, proc=True)
    assert result.exit_code == 4 and "--expires" in _one_error_line(result)
    assert engine.list_tokens() == []


def test_a_token_for_nobody_is_not_found(cli: CliRun, engine: Engine) -> None:
    result = cli("token", "create", "ci", "--user", "nobody", proc=True)
    assert result.exit_code == 2 and "no user 'nobody'" in _one_error_line(result)
    empty = cli("token", "list")
    assert empty.exit_code == 0 and empty.stdout.strip() == "no tokens yet"


def test_the_audit_log_is_listed_filtered_and_paged(cli: CliRun, engine: Engine) -> None:
    assert cli("audit", "list").stdout.strip() == "no audit entries"
    accounts = engine.accounts
    ids = [
        accounts.record_audit(
            user=user,
            via="token",
            client="192.0.2.1",
            action=action,
            resource_kind="vm",
            resource=vm,
            outcome=outcome,
            operation_id=op,
            detail=detail,
        ).id
        for user, action, vm, outcome, op, detail in [
            ("alice", "vm.start", "web1", "ok", None, ""),
            ("bob", "vm.create", "web2", "ok", 12, "from a spec"),
            ("alice", "vm.stop", "web1", "conflict", None, "busy"),
        ]
    ]
    listed = cli("audit", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "TIME",
        "USER",
        "VIA",
        "CLIENT",
        "ACTION",
        "RESOURCE",
        "OUTCOME",
        "OP",
    ]
    assert lines[1].split()[0] == str(ids[2]) and "conflict" in lines[1]
    assert lines[2].strip() == "busy"  # a detail goes under its row
    assert "12" in lines[3].split() and lines[4].strip() == "from a spec"
    alice = json.loads(cli("audit", "list", "--user", "alice", "--json").stdout)
    assert [e["id"] for e in alice] == [ids[2], ids[0]]
    web2 = json.loads(cli("audit", "list", "--vm", "web2", "--json").stdout)
    assert [(e["user"], e["operation_id"]) for e in web2] == [("bob", 12)]
    page = json.loads(cli("audit", "list", "--limit", "1", "--json").stdout)
    rest = json.loads(cli("audit", "list", "--after", str(page[0]["id"]), "--json").stdout)
    assert [e["id"] for e in page + rest] == ids[::-1]
    too_many = cli("audit", "list", "--limit", "0", proc=True)
    assert too_many.exit_code == 64  # a number out of bounds is a usage error
