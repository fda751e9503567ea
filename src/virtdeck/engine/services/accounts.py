"""Users, their tokens and sessions, logins and their throttling, and the audit log.

The local command line manages users and tokens through the engine's
interface (``Engine.add_user`` ...); the API server also calls what only it
needs straight on this service (``engine.accounts``): ``authenticate_token``
and ``session`` for every request, ``login`` and ``logout``, ``record_audit``
after every change. Who may call what is the API's to check (roles.py);
this service decides what a request means and what is refused.

Logins:

- a wrong password and an unknown user get the same answer, after the same
  work: an unknown user's password is verified against a dummy argon2id
  hash, so that neither the words nor the time tell whether a user exists;
- failed logins are counted per user name and per client address over
  ``LOGIN_WINDOW`` (5 minutes): from ``USER_FAILURES`` (5) for one name or
  ``CLIENT_FAILURES`` (20) from one address on, every login of that name or
  from that address is refused as RateLimited until the failures leave the
  window, also with the right password, and a refused attempt adds none.
  A success clears its user name's count (not its address's). Counted in the
  database, so servers sharing it agree. Unknown names are counted like
  known ones, so being throttled does not tell either;
- every secret comparison is constant-time: argon2's own for passwords,
  ``hmac.compare_digest`` for the hashes of tokens and sessions.

Logins, failed ones included, are written to the audit log (a failed one
under the name tried only when that user exists: an unknown "name" may well
be a password typed into the wrong field).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from virtdeck.errors import InvalidInput, RateLimited, Unauthenticated
from virtdeck.model.names import InvalidName, check_name

from ..account_schemas import AuditEntry, SessionCreated, TokenCreated, TokenInfo, UserInfo
from ..context import HostContext
from ..roles import Principal, Role, checked_role

if TYPE_CHECKING:
    from ..audit import AuditStore
    from ..sessions import LoginFailures, SessionStore
    from ..tokens import TokenStore
    from ..users import UserStore

PASSWORD_MIN = 8
PASSWORD_MAX = 1024
TOKEN_NAME_MAX = 128
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
TOKEN_DAYS_MAX = 3650
AUDIT_LIMIT_MAX = 10000

LOGIN_WINDOW = timedelta(minutes=5)
USER_FAILURES = 5
CLIENT_FAILURES = 20

# How long a checked token is taken as valid without asking the database
# again (a revocation made by another process applies within this time).
TOKEN_RECHECK_SECONDS = 5.0
KNOWN_TOKENS_MAX = 10_000

BAD_LOGIN = "the user name or the password is wrong; check both and try again"
BAD_TOKEN = "the token is not valid; create a new one"
BAD_SESSION = "the login session has ended or is not valid; log in again"
# An unknown user's name in the audit log (see the module's docstring).
UNKNOWN_USER = "(unknown)"


def check_user_name(name: str) -> str:
    """A user name: the rule of VM names (letters, digits, '.', '_', '-'; at most 64)."""
    try:
        return check_name(name, "user")
    except InvalidName as exc:
        raise InvalidInput(str(exc), field="name") from None


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(
            f"a password needs at least {PASSWORD_MIN} characters; this one has "
            f"{len(password)}, choose a longer one",
            field="password",
        )
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(
            f"a password may have at most {PASSWORD_MAX} characters; this one has "
            f"{len(password)}, choose a shorter one",
            field="password",
        )
    return password


def check_token_name(name: str) -> str:
    if not name or len(name) > TOKEN_NAME_MAX or not _TOKEN_NAME.match(name):
        from virtdeck.model.text import quote  # noqa: PLC0415

        raise InvalidInput(
            f"token name {quote(name)} is not allowed: use 1-{TOKEN_NAME_MAX} characters "
            "of letters, digits, '.', '_' and '-', starting with a letter or digit",
            field="name",
        )
    return name


class AccountService:
    """Users, tokens, sessions, logins and the audit log, in the engine's database."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self._users: UserStore | None = None
        self._tokens: TokenStore | None = None
        self._sessions: SessionStore | None = None
        self._failures: LoginFailures | None = None
        self._audit: AuditStore | None = None
        # Tokens checked lately: their secret's digest -> (principal, until when).
        self._known: dict[str, tuple[Principal, float]] = {}

    # -- the stores, opened on first use (SQLAlchemy and argon2 load then) -----
    @property
    def users(self) -> UserStore:
        if self._users is None:
            from ..users import UserStore  # noqa: PLC0415

            self._users = UserStore(self.ctx.database())
        return self._users

    @property
    def tokens(self) -> TokenStore:
        if self._tokens is None:
            from ..tokens import TokenStore  # noqa: PLC0415

            self._tokens = TokenStore(self.ctx.database())
        return self._tokens

    @property
    def sessions(self) -> SessionStore:
        if self._sessions is None:
            from ..sessions import SessionStore  # noqa: PLC0415

            self._sessions = SessionStore(self.ctx.database())
        return self._sessions

    @property
    def failures(self) -> LoginFailures:
        if self._failures is None:
            from ..sessions import LoginFailures  # noqa: PLC0415

            self._failures = LoginFailures(self.ctx.database(), LOGIN_WINDOW)
        return self._failures

    @property
    def audit(self) -> AuditStore:
        if self._audit is None:
            from ..audit import AuditStore  # noqa: PLC0415

            self._audit = AuditStore(self.ctx.database())
        return self._audit

    # -- users ----------------------------------------------------------------
    def add_user(self, name: str, role: Role, password: str) -> UserInfo:
        from ..users import hash_password  # noqa: PLC0415

        check_user_name(name)
        checked = checked_role(role)
        check_password(password)
        return self.users.add(name, checked, hash_password(password))

    def list_users(self) -> list[UserInfo]:
        return self.users.all()

    def set_password(self, name: str, password: str) -> UserInfo:
        """A new password; the user's browser sessions end (its tokens stay)."""
        from ..users import hash_password  # noqa: PLC0415

        check_password(password)
        self.users.require(name)
        info = self.users.set_password_hash(name, hash_password(password))
        self.sessions.end_all(name)
        return info

    def set_role(self, name: str, role: Role) -> UserInfo:
        """``name`` gets ``role``; the last admin is never demoted (Conflict)."""
        try:
            return self.users.set_role(name, checked_role(role))
        finally:
            self._known.clear()

    def remove_user(self, name: str) -> None:
        """The user goes, and its tokens and sessions with it; never the last admin."""
        try:
            self.users.remove(name)
        finally:
            self._known.clear()

    # -- tokens ---------------------------------------------------------------
    def create_token(self, name: str, user: str, expires: timedelta | None = None) -> TokenCreated:
        """A new token of ``user``; the answer holds its secret, this once."""
        check_token_name(name)
        if expires is not None and not timedelta(0) < expires <= timedelta(days=TOKEN_DAYS_MAX):
            raise InvalidInput(
                f"a token expires from 1 day to {TOKEN_DAYS_MAX} days after it is made, "
                "or never; choose a time in that range",
                field="expires_days",
            )
        self.users.require(user)
        return self.tokens.create(name, user, expires)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        if user is not None:
            self.users.require(user)
        return self.tokens.all(user)

    def revoke_token(self, token_id: str) -> TokenInfo:
        try:
            return self.tokens.revoke(token_id)
        finally:
            self._known.clear()

    def known_token(self, secret: str) -> Principal | None:
        """The principal of a token checked in the last ``TOKEN_RECHECK_SECONDS``, or None.

        Memory only, no I/O: a server answers a busy client without a
        database round trip per request. A revocation, a removed user or a
        new role made through this process applies at once; one made by
        another process (the CLI on the host) within those seconds.
        """
        from ..tokens import secret_digest  # noqa: PLC0415 - SQLAlchemy loads with it

        seen = self._known.get(secret_digest(secret))
        if seen is None or time.monotonic() > seen[1]:
            return None
        return seen[0]

    def authenticate_token(self, secret: str) -> Principal:
        """Whose token ``secret`` is; Unauthenticated if unknown, expired or revoked."""
        owner = self.tokens.owner(secret)
        if owner is None:
            raise Unauthenticated(BAD_TOKEN)
        principal = Principal(
            user=owner.user,
            role=checked_role(owner.role),
            via="token",
            credential_id=owner.token_id,
        )
        if len(self._known) >= KNOWN_TOKENS_MAX:
            self._known.clear()
        until = time.monotonic() + TOKEN_RECHECK_SECONDS
        if owner.expires_at is not None:
            # Never past the token's own end.
            left = (owner.expires_at - datetime.now(UTC)).total_seconds()
            until = min(until, time.monotonic() + max(0.0, left))
        from ..tokens import secret_digest  # noqa: PLC0415

        self._known[secret_digest(secret)] = (principal, until)
        return principal

    # -- logins and sessions --------------------------------------------------
    def login(self, user: str, password: str, client: str) -> SessionCreated:
        """A browser session for ``user``, if ``password`` is its own and logins are not
        throttled for that name or from ``client`` (see the module's docstring)."""
        from ..sessions import failure_key  # noqa: PLC0415
        from ..users import dummy_hash, hash_password, needs_rehash, verify_password  # noqa: PLC0415

        keys = [failure_key("user", user), failure_key("client", client)]
        counts = self.failures.recent(keys)
        found = self.users.password_hash(user) if 0 < len(user) <= 64 else None
        who = found[0].name if found is not None else UNKNOWN_USER
        if counts[keys[0]][0] >= USER_FAILURES or counts[keys[1]][0] >= CLIENT_FAILURES:
            self._audit_login(who, client, "rate_limited")
            minutes = int(LOGIN_WINDOW.total_seconds() // 60)
            raise RateLimited(
                "too many failed logins for this user name or from this address; "
                f"wait {minutes} minutes and try again"
            )
        stored = found[1] if found is not None else dummy_hash()
        # A password no user can have is still verified (cut to the longest
        # one allowed), so that its answer takes as long as any other.
        right = verify_password(stored, password[:PASSWORD_MAX])
        if found is None or not right or len(password) > PASSWORD_MAX:
            self.failures.add(keys)
            self._audit_login(who, client, "unauthenticated")
            raise Unauthenticated(BAD_LOGIN)
        info = found[0]
        self.failures.clear(keys[0])
        if needs_rehash(stored):
            self.users.set_password_hash(info.name, hash_password(password), changed=False)
        self.sessions.purge()
        made = self.sessions.create(info.name, client)
        self._audit_login(info.name, client, "ok")
        return SessionCreated(
            id=made.id,
            secret=made.secret,
            csrf_token=made.csrf_token,
            principal=Principal(
                user=info.name, role=info.role, via="session", credential_id=made.id
            ),
            expires_at=made.expires_at,
        )

    def session(self, secret: str) -> tuple[Principal, str]:
        """Whose session ``secret`` is, and its CSRF token; Unauthenticated once it ended."""
        live = self.sessions.live(secret)
        if live is None:
            raise Unauthenticated(BAD_SESSION)
        principal = Principal(
            user=live.user, role=checked_role(live.role), via="session", credential_id=live.id
        )
        return principal, live.csrf_token

    def logout(self, secret: str) -> None:
        """The session of ``secret`` ends (nothing happens for one that has ended)."""
        self.sessions.end(secret)

    def _audit_login(self, user: str, client: str, outcome: str) -> None:
        self.audit.record(
            user=user,
            via="session",
            client=client,
            action="login",
            resource_kind="session",
            resource="",
            outcome=outcome,
        )

    # -- the audit log --------------------------------------------------------
    def record_audit(
        self,
        *,
        user: str,
        via: str,
        client: str,
        action: str,
        resource_kind: str,
        resource: str,
        outcome: str,
        resource_uuid: str | None = None,
        operation_id: int | None = None,
        detail: str = "",
    ) -> AuditEntry:
        """One entry; what looks like a token or a session secret is scrubbed from it."""
        return self.audit.record(
            user=user,
            via=via,
            client=client,
            action=action,
            resource_kind=resource_kind,
            resource=resource,
            outcome=outcome,
            resource_uuid=resource_uuid,
            operation_id=operation_id,
            detail=detail,
        )

    def list_audit(
        self,
        user: str | None = None,
        vm: str | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first, at most ``limit``; ``after`` an entry's id: those older than it."""
        if not 1 <= limit <= AUDIT_LIMIT_MAX:
            raise InvalidInput(
                f"the number of audit entries asked for must be 1-{AUDIT_LIMIT_MAX}; got {limit}",
                field="limit",
            )
        if after is not None and after < 1:
            raise InvalidInput(f"an audit entry id is 1 or more; got {after}", field="after")
        return self.audit.entries(user, vm, limit, after)
