"""An ASGI guard on request bodies: one too large is refused before it is read whole."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from virtdeck.engine.validation import check_vm_name
from virtdeck.errors import InvalidInput, VirtdeckError
from virtdeck.model import quote

from .problems import plain_problem, problem_for, problem_response

# The largest body any route takes: a spec is at most 256 KiB and cloud-init
# user-data 1 MiB; JSON escaping may double that.
MAX_BODY_BYTES = 4 * 2**20


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False
        too_large = False
        refused = False

        async def counted() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_large = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started, refused
            if refused:
                return
            if message["type"] == "http.response.start":
                if too_large:
                    # FastAPI took the _TooLarge from reading the body for a bad
                    # body (400); what was wrong is its size.
                    refused = True
                    await self._refuse(scope, receive, send)
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started and not refused:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            plain_problem(
                413,
                f"the request body is larger than {self.limit // 2**20} MiB; send a smaller one",
            ),
            {"Connection": "close"},
        )
        await response(scope, receive, send)


class EncodedSlash:
    """A path segment that held an encoded '/' (``%2F``) is refused as the engine refuses it.

    The server decodes ``%2F`` before routing, so ``/vms/a%2Fb/start`` would
    be taken for another route and answer 404; a client that quoted the name
    it was given must instead hear what is wrong with the name, in the same
    words as on the host.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") or b""
        if scope["type"] == "http" and b"%2f" in raw.lower():
            refusal = _slash_refusal(raw.decode("latin-1"))
            if refusal is not None:
                await problem_response(problem_for(refusal))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _slash_refusal(raw_path: str) -> VirtdeckError | None:
    """What is wrong with the first segment of ``raw_path`` that decodes to hold a '/'."""
    segments = raw_path.split("/")
    for index, segment in enumerate(segments):
        decoded = unquote(segment)
        if "/" not in decoded:
            continue
        # /api/v1/vms/NAME...: a VM's name, in the engine's own words.
        if segments[1:4] == ["api", "v1", "vms"] and index == 4:
            try:
                check_vm_name(decoded)
            except VirtdeckError as exc:
                return exc
        return InvalidInput(
            f"{quote(decoded)} in the request's path holds a '/', which no name virtdeck "
            "takes may hold; use another"
        )
    return None


_NUL_IN_URL = b"%00"
_NUL_IN_JSON = b"\\u0000"


class NoNul:
    """A request with a NUL character anywhere in its path, query or JSON body is refused.

    No name or value virtdeck takes holds one; libvirt's calls fail on one
    (an embedded null character) and PostgreSQL cannot store one in text,
    so it would otherwise end as a 500 deep inside, or as an audit entry
    that cannot be written. The body is looked at as it streams in; the
    route is stopped before it acts, as BodyLimit stops it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = (scope.get("raw_path") or b"") + b"?" + (scope.get("query_string") or b"")
        if _NUL_IN_URL in raw or "\x00" in scope.get("path", ""):
            await self._refuse(scope, receive, send, "its path or query")
            return
        tail = b""
        found = False
        refused = False

        async def scanned() -> Message:
            nonlocal tail, found
            message = await receive()
            if message["type"] == "http.request":
                chunk = tail + message.get("body", b"")
                if _NUL_IN_JSON in chunk or b"\x00" in chunk:
                    found = True
                    raise _HasNul
                tail = chunk[-(len(_NUL_IN_JSON) - 1) :]
            return message

        async def watched(message: Message) -> None:
            nonlocal refused
            if refused:
                return
            if found and message["type"] == "http.response.start":
                refused = True
                await self._refuse(scope, receive, send, "its body")
                return
            await send(message)

        try:
            await self.app(scope, scanned, watched)
        except _HasNul:
            if not refused:
                await self._refuse(scope, receive, send, "its body")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, where: str) -> None:
        response = problem_response(
            plain_problem(
                422,
                f"the request holds a NUL character in {where}, which no name or value "
                "may hold; remove it and send the request again",
            )
        )
        await response(scope, receive, send)


class _HasNul(Exception):
    pass
