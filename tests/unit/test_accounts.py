"""Users, roles, tokens, sessions, login throttling and the audit log, in the engine.

Every test runs on SQLite and on PostgreSQL (tests/db_urls.py): servers
share the database, so what one refuses the others must refuse too. Time
is moved by changing the rows' times, as a clock would have.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from virtdeck.engine import Engine
from virtdeck.engine.account_schemas import (
    AuditEntry,
    SessionCreated,
    TokenCreated,
    TokenInfo,
    UserInfo,
)
from virtdeck.engine.audit import AuditRow, scrub
from virtdeck.engine.db import as_utc
from virtdeck.engine.roles import LOCAL_ROOT, PERMISSIONS, ROLE_PERMISSIONS, ROLES, allows
from virtdeck.engine.services.accounts import (
    BAD_LOGIN,
    BAD_TOKEN,
    CLIENT_FAILURES,
    USER_FAILURES,
    AccountService,
)
from virtdeck.engine.sessions import LoginFailureRow, SessionRow, failure_key
from virtdeck.engine.tokens import TokenRow
from virtdeck.engine.users import UserRow
from virtdeck.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    VirtdeckError,
)
from virtdeck.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on the test driver whose database is SQLite, then PostgreSQL."""
    eng = Engine(
        Settings(uri="test:///default", data_dir=tmp_path / "data", database_url=database_url)
    )
    yield eng
    eng.close()


@pytest.fixture
def accounts(engine: Engine) -> AccountService:
    return engine.accounts


def _sql(engine: Engine) -> Session:
    return Session(engine.ctx.database())


def _backdate(engine: Engine, table: type[object], column: str, when: datetime) -> None:
    with _sql(engine) as session, session.begin():
        session.execute(update(table).values({column: when}))


# -- roles ----------------------------------------------------------------------
def test_roles_hold_what_the_issue_says() -> None:
    assert ROLE_PERMISSIONS["admin"] == frozenset(PERMISSIONS)
    operator = ROLE_PERMISSIONS["operator"]
    assert {"vm.change", "snapshot.change", "operation.cancel", "vm.read"} <= operator
    assert "user.manage" not in operator and "audit.read" not in operator
    viewer = ROLE_PERMISSIONS["viewer"]
    assert all(p.endswith(".read") or p == "account.self" for p in viewer)
    assert {"events.read", "metrics.read", "host.read", "vm.read"} <= viewer
    assert not allows("viewer", "vm.change") and not allows("operator", "user.manage")
    assert allows("admin", "audit.read")
    assert not allows("nobody", "vm.read")  # type: ignore[arg-type]
    assert LOCAL_ROOT.role == "admin" and LOCAL_ROOT.via == "local"
    assert set(ROLES) == set(ROLE_PERMISSIONS)


# -- users ----------------------------------------------------------------------
def test_a_password_is_kept_as_an_argon2id_hash_only(engine: Engine) -> None:
    user = engine.add_user("alice", "operator", PASSWORD)
    assert isinstance(user, UserInfo) and user.role == "operator"
    assert "hash" not in str(UserInfo.model_fields)
    with _sql(engine) as session:
        row = session.get(UserRow, "alice")
        assert row is not None
        assert row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
    assert [u.name for u in engine.list_users()] == ["alice"]
    assert "argon2" not in user.model_dump_json()


@pytest.mark.parametrize(
    ("name", "role", "password", "field"),
    [
        ("bad name", "viewer", PASSWORD, "name"),
        ("x" * 65, "viewer", PASSWORD, "name"),
        ("", "viewer", PASSWORD, "name"),
        ("carol", "root", PASSWORD, "role"),
        ("carol", "viewer", "short", "password"),
        ("carol", "viewer", "x" * 1025, "password"),
    ],
)
def test_bad_users_are_refused_in_one_sentence(
    engine: Engine, name: str, role: str, password: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        engine.add_user(name, role, password)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert caught.value.message.count("\n") == 0
    assert password not in caught.value.message or len(password) < 8
    assert engine.list_users() == []


def test_a_name_is_taken_once(engine: Engine) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    with pytest.raises(Conflict, match="exists already"):
        engine.add_user("alice", "admin", PASSWORD)
    assert [u.role for u in engine.list_users()] == ["viewer"]


def test_the_last_admin_is_never_removed_or_demoted(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("root1", "admin", PASSWORD)
    engine.add_user("viewer1", "viewer", PASSWORD)
    with pytest.raises(Conflict, match="last admin"):
        engine.remove_user("root1")
    with pytest.raises(Conflict, match="last admin"):
        accounts.set_role("root1", "operator")
    engine.add_user("root2", "admin", PASSWORD)
    assert accounts.set_role("root1", "operator").role == "operator"
    with pytest.raises(Conflict):
        engine.remove_user("root2")
    engine.remove_user("viewer1")
    engine.remove_user("root1")
    assert [u.name for u in engine.list_users()] == ["root2"]
    with pytest.raises(NotFound):
        engine.remove_user("root1")


def test_a_new_password_works_and_ends_the_users_sessions(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    made = accounts.login("alice", PASSWORD, "10.0.0.1")
    before = engine.list_users()[0].password_changed_at
    changed = engine.set_password("alice", "a brand new one")
    assert changed.password_changed_at > before
    with pytest.raises(Unauthenticated):
        accounts.session(made.secret)
    with pytest.raises(Unauthenticated):
        accounts.login("alice", PASSWORD, "10.0.0.1")
    assert accounts.login("alice", "a brand new one", "10.0.0.1").principal.user == "alice"
    with pytest.raises(InvalidInput):
        engine.set_password("alice", "short")
    with pytest.raises(NotFound):
        engine.set_password("nobody", "long enough password")


# -- tokens ---------------------------------------------------------------------
def test_a_token_is_256_random_bits_kept_only_as_its_hash(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "operator", PASSWORD)
    made = engine.create_token("ci", "alice")
    assert isinstance(made, TokenCreated)
    assert made.id.startswith("t-") and len(made.id) == 10
    assert made.secret.startswith("vdt_")
    raw = base64.urlsafe_b64decode(made.secret[4:] + "=")
    assert len(raw) * 8 >= 256
    assert made.secret not in repr(made)
    with _sql(engine) as session:
        row = session.get(TokenRow, made.id)
        assert row is not None
        stored = [str(getattr(row, c.key)) for c in TokenRow.__table__.columns]
    assert row.secret_sha256 == hashlib.sha256(made.secret.encode()).hexdigest()
    assert not any(made.secret in value or made.secret[4:] in value for value in stored)
    # Lists never show it again.
    [listed] = engine.list_tokens()
    assert isinstance(listed, TokenInfo) and not isinstance(listed, TokenCreated)
    assert made.secret not in listed.model_dump_json()
    assert "secret" not in TokenInfo.model_fields
    principal = accounts.authenticate_token(made.secret)
    assert (principal.user, principal.role, principal.via) == ("alice", "operator", "token")
    assert principal.credential_id == made.id
    assert made.secret not in repr(principal)


@pytest.mark.parametrize(
    "secret", ["", "vdt_", "vdt_not-a-token", "Bearer x", "vdt_" + "a" * 5000, "\x00"]
)
def test_unknown_tokens_are_refused_alike(accounts: AccountService, secret: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        accounts.authenticate_token(secret)
    assert caught.value.message == BAD_TOKEN


def test_expired_and_revoked_tokens_are_refused(engine: Engine, accounts: AccountService) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    expiring = engine.create_token("soon", "alice", expires_days=1)
    assert expiring.expires_at is not None
    assert timedelta(hours=23) < expiring.expires_at - expiring.created_at <= timedelta(days=1)
    revoked = engine.create_token("gone", "alice")
    accounts.authenticate_token(expiring.secret)
    with _sql(engine) as session, session.begin():
        session.execute(
            update(TokenRow)
            .where(TokenRow.id == expiring.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with pytest.raises(Unauthenticated, match="not valid"):
        accounts.authenticate_token(expiring.secret)
    done = engine.revoke_token(revoked.id)
    assert done.state == "revoked" and done.revoked_at is not None
    with pytest.raises(Unauthenticated, match="not valid"):
        accounts.authenticate_token(revoked.secret)
    # Revoking again changes nothing.
    assert engine.revoke_token(revoked.id).revoked_at == done.revoked_at
    states = {t.id: t.state for t in engine.list_tokens("alice")}
    assert states == {expiring.id: "expired", revoked.id: "revoked"}
    with pytest.raises(NotFound):
        engine.revoke_token("t-00000000")
    for days in (0, -1, 3651):
        with pytest.raises(InvalidInput):
            engine.create_token("bad", "alice", expires_days=days)
    with pytest.raises(NotFound):
        engine.create_token("ci", "nobody")
    with pytest.raises(NotFound):
        engine.list_tokens("nobody")
    with pytest.raises(InvalidInput):
        engine.create_token("no spaces please", "alice")


def test_last_used_is_written_at_most_once_a_minute(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    made = engine.create_token("ci", "alice")
    accounts.authenticate_token(made.secret)
    [first] = engine.list_tokens()
    assert first.last_used_at is not None
    accounts.authenticate_token(made.secret)
    assert engine.list_tokens()[0].last_used_at == first.last_used_at
    _backdate(engine, TokenRow, "last_used_at", datetime.now(UTC) - timedelta(minutes=2))
    accounts.authenticate_token(made.secret)
    [later] = engine.list_tokens()
    assert later.last_used_at is not None and later.last_used_at > first.last_used_at


def test_a_token_follows_its_users_role_and_goes_with_the_user(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("admin1", "admin", PASSWORD)
    engine.add_user("bob", "operator", PASSWORD)
    token = engine.create_token("ci", "bob")
    session = accounts.login("bob", PASSWORD, "10.0.0.2")
    accounts.set_role("bob", "viewer")
    assert accounts.authenticate_token(token.secret).role == "viewer"
    assert accounts.session(session.secret)[0].role == "viewer"
    engine.remove_user("bob")
    with pytest.raises(Unauthenticated):
        accounts.authenticate_token(token.secret)
    with pytest.raises(Unauthenticated):
        accounts.session(session.secret)
    assert engine.list_tokens() == []
    with _sql(engine) as s:
        assert s.scalars(select(SessionRow)).all() == []


# -- logins and sessions -----------------------------------------------------------
def test_a_login_makes_a_session_with_its_csrf_token(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "operator", PASSWORD)
    made = accounts.login("alice", PASSWORD, "192.0.2.7")
    assert isinstance(made, SessionCreated)
    assert made.secret.startswith("vds_") and len(made.secret) >= 4 + 43
    assert len(made.csrf_token) >= 43 and made.csrf_token != made.secret
    assert made.secret not in repr(made) and made.csrf_token not in repr(made)
    assert timedelta(hours=11) < made.expires_at - datetime.now(UTC) <= timedelta(hours=12)
    principal, csrf = accounts.session(made.secret)
    assert (principal.user, principal.role, principal.via) == ("alice", "operator", "session")
    assert principal.credential_id == made.id and csrf == made.csrf_token
    with _sql(engine) as session:
        row = session.scalars(select(SessionRow)).one()
        assert row.secret_sha256 == hashlib.sha256(made.secret.encode()).hexdigest()
        assert made.secret not in str([getattr(row, c.key) for c in SessionRow.__table__.columns])
    accounts.logout(made.secret)
    with pytest.raises(Unauthenticated):
        accounts.session(made.secret)
    accounts.logout(made.secret)  # ended already: nothing to do
    for bad in ("", "vds_x", "vdt_x", "y" * 1000):
        with pytest.raises(Unauthenticated):
            accounts.session(bad)


@pytest.mark.parametrize("column", ["expires_at", "last_seen_at"])
def test_a_session_ends_after_12_hours_or_2_idle(
    engine: Engine, accounts: AccountService, column: str
) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    made = accounts.login("alice", PASSWORD, "192.0.2.7")
    ago = {"expires_at": timedelta(seconds=1), "last_seen_at": timedelta(hours=2, seconds=1)}
    _backdate(engine, SessionRow, column, datetime.now(UTC) - ago[column])
    with pytest.raises(Unauthenticated, match="log in again"):
        accounts.session(made.secret)
    with _sql(engine) as session:
        assert session.scalars(select(SessionRow)).all() == []


def test_a_used_session_stays_alive(engine: Engine, accounts: AccountService) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    made = accounts.login("alice", PASSWORD, "192.0.2.7")
    _backdate(engine, SessionRow, "last_seen_at", datetime.now(UTC) - timedelta(minutes=90))
    accounts.session(made.secret)
    with _sql(engine) as session:
        seen = as_utc(session.scalars(select(SessionRow.last_seen_at)).one())
    assert seen > datetime.now(UTC) - timedelta(minutes=1)
    assert accounts.session(made.secret)[0].user == "alice"


def _refusal(accounts: AccountService, user: str, password: str, client: str) -> VirtdeckError:
    with pytest.raises(VirtdeckError) as caught:
        accounts.login(user, password, client)
    return caught.value


def test_an_unknown_user_and_a_wrong_password_are_told_apart_by_nothing(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    unknown = _refusal(accounts, "mallory", "whatever-password", "198.51.100.1")
    wrong = _refusal(accounts, "alice", "whatever-password", "198.51.100.1")
    weird = _refusal(accounts, "x" * 500, "y" * 5000, "198.51.100.1")
    for refused in (unknown, wrong, weird):
        assert type(refused) is Unauthenticated
        assert refused.message == BAD_LOGIN and refused.field is None

    # The same work, too: an unknown user's password is verified against a
    # dummy hash (without it, this would answer in well under a millisecond).
    def took(user: str, client: str) -> float:
        start = time.perf_counter()
        _refusal(accounts, user, "another-wrong-one", client)
        return time.perf_counter() - start

    known = min(took("alice", f"203.0.113.{i}") for i in range(3))
    nobody = min(took(f"nobody{i}", f"203.0.113.{10 + i}") for i in range(3))
    assert nobody > 0.3 * known, (nobody, known)


def test_failed_logins_are_throttled_per_user_and_a_success_resets(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    for i in range(USER_FAILURES - 1):
        _refusal(accounts, "alice", f"wrong-{i}", f"10.1.0.{i}")
    # A success before the limit clears the count.
    accounts.login("alice", PASSWORD, "10.1.0.99")
    for i in range(USER_FAILURES):
        assert type(_refusal(accounts, "alice", f"wrong-{i}", f"10.2.0.{i}")) is Unauthenticated
    # Now even the right password, from anywhere, waits.
    limited = _refusal(accounts, "alice", PASSWORD, "10.3.0.1")
    assert type(limited) is RateLimited and limited.http_status == 429
    assert "alice" not in limited.message and "wait" in limited.message
    # An unknown name is throttled the same way: being throttled tells nothing.
    for i in range(USER_FAILURES):
        _refusal(accounts, "mallory", f"wrong-{i}", f"10.4.0.{i}")
    ghost = _refusal(accounts, "mallory", PASSWORD, "10.4.0.99")
    assert type(ghost) is RateLimited and ghost.message == limited.message
    # Once the failures leave the window, logins are tried again.
    _backdate(engine, LoginFailureRow, "at", datetime.now(UTC) - timedelta(minutes=6))
    assert accounts.login("alice", PASSWORD, "10.3.0.1").principal.user == "alice"


def test_failed_logins_are_throttled_per_client_address(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    # All but the last failure as the rows failed logins leave (each login
    # costs an argon2 hash); the last one a real login that fails.
    accounts.failures.add(
        [failure_key("client", "203.0.113.66") for _ in range(CLIENT_FAILURES - 2)]
    )
    _refusal(accounts, "guess0", "wrong-password", "203.0.113.66")
    assert type(_refusal(accounts, "guess1", "wrong-password", "203.0.113.66")) is Unauthenticated
    limited = _refusal(accounts, "alice", PASSWORD, "203.0.113.66")
    assert type(limited) is RateLimited
    # Another address is not held up by this one.
    assert accounts.login("alice", PASSWORD, "203.0.113.67").principal.user == "alice"
    # A success does not clear its address's count (only its user name's).
    assert type(_refusal(accounts, "alice", PASSWORD, "203.0.113.66")) is RateLimited
    with _sql(engine) as session:
        keys = session.scalars(select(LoginFailureRow.key)).all()
    # Names tried are kept as hashes only: a password typed as a name is not kept.
    assert keys and not any("guess" in k or "203.0.113" in k for k in keys)


def test_logins_are_in_the_audit_log_without_unknown_names(
    engine: Engine, accounts: AccountService
) -> None:
    engine.add_user("alice", "viewer", PASSWORD)
    accounts.login("alice", PASSWORD, "10.9.0.1")
    _refusal(accounts, "alice", "wrong-password", "10.9.0.1")
    _refusal(accounts, "my-secret-password", "x" * 10, "10.9.0.2")
    entries = engine.list_audit()
    assert [(e.user, e.action, e.outcome) for e in entries] == [
        ("(unknown)", "login", "unauthenticated"),
        ("alice", "login", "unauthenticated"),
        ("alice", "login", "ok"),
    ]
    assert all(e.via == "session" and e.resource_kind == "session" for e in entries)


# -- the audit log --------------------------------------------------------------------
def _record(accounts: AccountService, user: str, action: str, resource: str, **kw: str) -> int:
    entry = accounts.record_audit(
        user=user,
        via="token",
        client="127.0.0.1",
        action=action,
        resource_kind=kw.pop("kind", action.split(".", maxsplit=1)[0]),
        resource=resource,
        outcome=kw.pop("outcome", "ok"),
        **kw,  # type: ignore[arg-type]
    )
    assert isinstance(entry, AuditEntry)
    return entry.id


def test_the_audit_log_filters_by_user_and_vm_and_pages_newest_first(
    engine: Engine, accounts: AccountService
) -> None:
    ids = [
        _record(accounts, "alice", "vm.start", "web1"),
        _record(accounts, "bob", "vm.stop", "web1", outcome="conflict"),
        _record(accounts, "alice", "vm.start", "web2"),
        _record(accounts, "alice", "snapshot.create", "web1"),
        _record(accounts, "alice", "user.add", "web1"),  # a user called web1, not the VM
        _record(accounts, "bob", "vm.delete", "web1"),
    ]
    assert [e.id for e in engine.list_audit()] == ids[::-1]
    assert [e.id for e in engine.list_audit(user="bob")] == [ids[5], ids[1]]
    assert [e.id for e in engine.list_audit(vm="web1")] == [ids[5], ids[3], ids[1], ids[0]]
    assert [e.id for e in engine.list_audit(user="alice", vm="web1")] == [ids[3], ids[0]]
    first = engine.list_audit(limit=2)
    second = engine.list_audit(limit=2, after=first[-1].id)
    third = engine.list_audit(limit=2, after=second[-1].id)
    assert [e.id for e in first + second + third] == ids[::-1]
    assert engine.list_audit(after=ids[0]) == []
    conflict = engine.list_audit(user="bob", vm="web1", limit=1, after=ids[5])[0]
    assert (conflict.action, conflict.outcome, conflict.via) == ("vm.stop", "conflict", "token")
    for bad in ({"limit": 0}, {"limit": 10001}, {"after": 0}):
        with pytest.raises(InvalidInput):
            engine.list_audit(**bad)  # type: ignore[arg-type]


def test_no_secret_reaches_the_audit_log(engine: Engine, accounts: AccountService) -> None:
    engine.add_user("alice", "admin", PASSWORD)
    token = engine.create_token("ci", "alice").secret
    session = accounts.login("alice", PASSWORD, "10.0.0.1").secret
    entry = accounts.record_audit(
        user="alice",
        via="token",
        client="10.0.0.1",
        action="vm.create",
        resource_kind="vm",
        resource=token,  # a token pasted where a name belongs
        resource_uuid="11111111-1111-1111-1111-111111111111",
        outcome="invalid_input",
        operation_id=7,
        detail=f"sent {token} and cookie {session}, header Authorization: Bearer {token}",
    )
    assert entry.resource == "vdt_***"
    assert entry.detail == "sent vdt_*** and cookie vds_***, header Authorization: Bearer ***"
    assert (entry.operation_id, entry.resource_uuid) == (7, "11111111-1111-1111-1111-111111111111")
    with _sql(engine) as s:
        rows = s.execute(text("SELECT * FROM audit_log")).all()
    dumped = repr(rows)
    assert token not in dumped and token[4:20] not in dumped and session[4:20] not in dumped
    assert scrub("no secret here: web1, t-1a2b3c4d") == "no secret here: web1, t-1a2b3c4d"
    long = accounts.record_audit(
        user="alice",
        via="token",
        client="c",
        action="vm.edit",
        resource_kind="vm",
        resource="web1",
        outcome="ok",
        detail="x" * 5000,
    )
    assert len(long.detail) <= 500
    with _sql(engine) as s:
        assert len(s.scalars(select(AuditRow.detail).where(AuditRow.id == long.id)).one()) <= 500
