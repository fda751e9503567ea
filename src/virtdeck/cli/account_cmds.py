"""``virtdeck user ...``, ``token ...`` and ``audit list``: who may use the API, and what was done.

Run on the host itself, these are how the first admin is made: the local
command line can read the database anyway. Through ``--server`` they go to
the API like every other command, and the server checks the caller's role.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.text import Text

from virtdeck.engine.account_schemas import AuditEntry, TokenInfo, UserInfo
from virtdeck.engine.roles import ROLES, checked_role
from virtdeck.errors import InvalidInput
from virtdeck.model.text import quote

from .context import engine
from .options import ID_MAX, JsonOpt
from .passwords import read_password
from .render import Row, console, err_console, print_json, print_table

user_app = typer.Typer(
    help="Users of the API and the web console, and their roles.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens: made for a user, shown once.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: every change asked of the API, by whom.", no_args_is_help=True
)

UserArg = Annotated[str, typer.Argument(metavar="NAME", help="User name.")]
TOKEN_DAYS_MAX = 3650
_EXPIRES = re.compile(r"^([0-9]{1,5})d?\Z")
_TOKEN_STYLE = {"active": "green", "expired": "yellow", "revoked": "red"}


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone().strftime("%Y-%m-%d %H:%M")


# -- users ---------------------------------------------------------------------
def _print_users(users: list[UserInfo]) -> None:
    rows = [(u.name, u.role, _when(u.created_at), _when(u.password_changed_at)) for u in users]
    print_table(rows, header=("NAME", "ROLE", "CREATED", "PASSWORD CHANGED"))


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: UserArg,
    role: Annotated[
        str,
        typer.Option("--role", metavar="|".join(ROLES), help="What the user may do."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Add a user; the password comes from a prompt, or one line of standard input."""
    chosen = checked_role(role)  # before the password is asked for
    password = read_password(confirm=True)
    user = engine(ctx).add_user(name, chosen, password)
    if as_json:
        print_json(user)
        return
    console.print(f"Added user {user.name} ({user.role})")


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The users, by name."""
    users = engine(ctx).list_users()
    if as_json:
        print_json(users)
    elif not users:
        console.print("no users yet")
    else:
        _print_users(users)


@user_app.command("passwd")
def user_passwd(ctx: typer.Context, name: UserArg, as_json: JsonOpt = False) -> None:
    """Set a user's password (its login sessions end; its tokens stay)."""
    password = read_password(confirm=True, prompt="New password")
    user = engine(ctx).set_password(name, password)
    if as_json:
        print_json(user)
        return
    console.print(f"Changed the password of user {user.name}")


@user_app.command("remove")
def user_remove(
    ctx: typer.Context,
    name: UserArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Remove a user, with its tokens and sessions (never the last admin)."""
    if not yes:
        if not sys.stdin.isatty():
            raise InvalidInput(
                f"removing user {name} is not undone and standard input is not a terminal "
                "to ask on; give --yes"
            )
        typer.confirm(f"Remove user {name} and its tokens?", abort=True)
    engine(ctx).remove_user(name)
    console.print(f"Removed user {name} and its tokens and sessions")


# -- tokens --------------------------------------------------------------------
def _expires_days(text: str | None) -> int | None:
    if text is None or text == "never":
        return None
    match = _EXPIRES.match(text.strip())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= TOKEN_DAYS_MAX:
        raise InvalidInput(
            f"--expires takes a number of days such as 30d (1-{TOKEN_DAYS_MAX}) or never; "
            f"got {quote(text)}"
        )
    return days


def _token_row(token: TokenInfo) -> tuple[str | Text, ...]:
    return (
        token.id,
        token.name,
        token.user,
        _when(token.created_at),
        _when(token.expires_at),
        _when(token.last_used_at),
        Text(token.state, style=_TOKEN_STYLE[token.state]),
    )


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="What it is for (ci, backup, ...).")],
    user: Annotated[str, typer.Option("--user", "-u", metavar="USER", help="Whose token.")],
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires", metavar="DAYS", help="Valid for this long: 30d (default: never)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an API token: its secret is printed this once, and kept only as a hash."""
    made = engine(ctx).create_token(name, user, _expires_days(expires))
    if as_json:
        print_json(made)
        return
    until = f"until {_when(made.expires_at)}" if made.expires_at else "with no expiry"
    err_console.print(f"Token {made.id} ({made.name}) of user {made.user}, {until}:")
    # The secret alone on standard output, so that TOKEN=$(virtdeck token create ...) works.
    print(made.secret)
    err_console.print(
        "It is shown only now and cannot be read again: store it, or revoke it and make another"
    )


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", metavar="USER", help="Only this user's.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tokens, oldest first, with their state: never their secrets."""
    tokens = engine(ctx).list_tokens(user)
    if as_json:
        print_json(tokens)
    elif not tokens:
        console.print("no tokens yet")
    else:
        print_table(
            [_token_row(t) for t in tokens],
            header=("ID", "NAME", "USER", "CREATED", "EXPIRES", "LAST USED", "STATE"),
        )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="ID", help="Its id in 'token list' (t-...).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: every request with it is refused from now on."""
    token = engine(ctx).revoke_token(token_id)
    if as_json:
        print_json(token)
        return
    console.print(f"Revoked token {token.id} ({token.name}) of user {token.user}")


# -- the audit log -------------------------------------------------------------
def _audit_row(entry: AuditEntry) -> Row:
    outcome = Text(entry.outcome, style="green" if entry.outcome == "ok" else "red")
    target = f"{entry.resource_kind} {entry.resource}".strip()
    cells = (
        str(entry.id),
        _when(entry.at),
        entry.user,
        entry.via,
        entry.client,
        entry.action,
        target,
        outcome,
        str(entry.operation_id) if entry.operation_id is not None else "-",
    )
    return Row(cells, Text(entry.detail, style="dim") if entry.detail else "")


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", metavar="USER", help="Only this user's.")
    ] = None,
    vm: Annotated[
        str | None, typer.Option("--vm", metavar="NAME", help="Only about this VM.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=10000, help="How many, newest first.")
    ] = 50,
    after: Annotated[
        int | None,
        typer.Option("--after", metavar="ID", min=1, max=ID_MAX, help="Only older than this id."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest audit entries: who changed what, from where, and how it ended."""
    entries = engine(ctx).list_audit(user, vm, limit, after)
    if as_json:
        print_json(entries)
    elif not entries:
        console.print("no audit entries")
    else:
        print_table(
            [_audit_row(e) for e in entries],
            header=("ID", "TIME", "USER", "VIA", "CLIENT", "ACTION", "RESOURCE", "OUTCOME", "OP"),
            notes_at=1,
        )
