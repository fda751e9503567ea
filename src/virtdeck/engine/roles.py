"""Who may do what: the three roles, the permissions each holds, and who is calling.

A route of the API names the one permission it needs (``api/routes.py``);
this module alone says which roles hold it, so a role's reach is read in one
table, not gathered from checks spread over the code:

- ``admin``: everything, users and their tokens and the audit log included;
- ``operator``: VMs and their devices, snapshots and operations, and its own
  tokens; not other users, not the audit log, not a whole definition's XML
  (a disk path in it could be any host file);
- ``viewer``: reading only (and its own tokens and password).

A ``Principal`` is a caller once authenticated: its user, its role as the
database has it now, how it proved who it is, and which token or session
that was (the public id, never the secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from virtdeck.errors import InvalidInput
from virtdeck.model.text import quote

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)

Permission = Literal[
    "host.read",
    "vm.read",
    # Lifecycle, create, delete, clone, rename, devices, live changes, spec
    # apply, restore, XML edit: every change to a VM or its definition.
    "vm.change",
    "snapshot.change",
    # Replacing a whole definition: any disk path on the host can go in it,
    # so it is as strong as root there (admin only).
    "vm.xml.write",
    "operation.read",
    "operation.cancel",
    # Users, and the tokens of users other than the caller.
    "user.manage",
    "audit.read",
    "metrics.read",
    "events.read",
    # The caller's own account: who it is, its password, its own tokens.
    "account.self",
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)

_READ: frozenset[Permission] = frozenset(
    {"host.read", "vm.read", "operation.read", "metrics.read", "events.read", "account.self"}
)
_OPERATE: frozenset[Permission] = _READ | {"vm.change", "snapshot.change", "operation.cancel"}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        "admin": frozenset(PERMISSIONS),
        "operator": _OPERATE,
        "viewer": _READ,
    }
)

AuthVia = Literal["token", "session", "local"]


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission`` (an unknown role holds none)."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def checked_role(value: str) -> Role:
    """``value`` as a role; InvalidInput naming the roles there are otherwise."""
    for role in ROLES:
        if value == role:
            return role
    raise InvalidInput(
        f"there is no role {quote(value)}; use one of {', '.join(ROLES)}",
        field="role",
    )


class Principal(BaseModel):
    """A caller, authenticated: never carries a password or a secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    role: Role
    via: AuthVia
    # The token's public id (t-...) or the session's (s-...); None for local.
    credential_id: str | None = None


# The embedded command line run on the host itself: whoever can run it can
# read the database and the libvirt socket anyway, so it acts as admin.
LOCAL_ROOT = Principal(user="root", role="admin", via="local")
