"""What the engine hands out about users, tokens, sessions and the audit log.

None of these models has a field for a password hash or a secret's hash;
a secret appears in exactly two, the answers of the calls that make one
(``TokenCreated``, ``SessionCreated``), and nowhere afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .roles import Principal, Role

TokenState = Literal["active", "expired", "revoked"]


class AccountSchema(BaseModel):
    model_config = ConfigDict(defer_build=True)


class UserInfo(AccountSchema):
    name: str
    role: Role
    created_at: datetime
    password_changed_at: datetime


class TokenInfo(AccountSchema):
    """A token as listed: its public id and dates, never its secret."""

    id: str  # t- and 8 hex digits: what 'revoke' takes
    name: str
    user: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None  # to the minute
    revoked_at: datetime | None = None
    state: TokenState


class TokenCreated(TokenInfo):
    """A new token, with its secret: shown this once, kept only as a hash."""

    secret: str = Field(repr=False)


class SessionCreated(AccountSchema):
    """A login: the session's secret (the cookie), its CSRF token, who and until when."""

    id: str
    secret: str = Field(repr=False)
    csrf_token: str = Field(repr=False)
    principal: Principal
    expires_at: datetime  # the latest it ends; left unused, it ends sooner


class AuditEntry(AccountSchema):
    """One change asked for, by whom, from where, on what, and how it ended."""

    id: int
    at: datetime
    user: str
    via: str  # "token", "session", "local"
    client: str
    action: str  # "vm.start", "user.add", ...
    resource_kind: str  # "vm", "user", "token", ...
    resource: str  # its name, "" when none
    resource_uuid: str | None = None
    outcome: str  # "ok", or the error's code ("conflict", "forbidden", ...)
    operation_id: int | None = None
    detail: str = ""
