"""The server's event stream (Server-Sent Events) as an ``EventStream``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType

import httpx

from virtdeck.engine.schemas import VmEvent
from virtdeck.errors import HostUnavailable

from .problems import error_from_response


class SseEvents:
    """VM lifecycle events from ``GET /api/v1/events``, until closed or the timeout."""

    def __init__(
        self,
        http: httpx.Client,
        path: str,
        vm: str | None,
        timeout: float | None,
        operations: bool = False,
    ) -> None:
        self._http = http
        self._path = path
        self._operations = operations
        self._params: dict[str, str] = {"operations": "true" if operations else "false"}
        if vm is not None:
            self._params["vm"] = vm
        if timeout is not None:
            self._params["timeout"] = str(timeout)
        self._stack = contextlib.ExitStack()
        self._response: httpx.Response | None = None

    def _open(self) -> httpx.Response:
        if self._response is None:
            try:
                response = self._stack.enter_context(
                    self._http.stream(
                        "GET",
                        self._path,
                        params=self._params,
                        headers={"Accept": "text/event-stream"},
                        timeout=httpx.Timeout(None, connect=10.0),
                    )
                )
            except httpx.TransportError as exc:
                raise HostUnavailable(
                    f"cannot reach the virtdeck server for events ({exc}); check that it runs"
                ) from exc
            if response.is_error:
                response.read()
                raise error_from_response(response)
            self._response = response
        return self._response

    def __iter__(self) -> Iterator[VmEvent]:
        kind = "message"
        data: list[str] = []
        try:
            for line in self._open().iter_lines():
                if line.startswith(":"):
                    continue  # a keep-alive comment
                if not line:
                    if data and (kind == "lifecycle" or (kind == "operation" and self._operations)):
                        yield VmEvent.model_validate_json("\n".join(data))
                    kind, data = "message", []
                    continue
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
        except httpx.TransportError:
            return  # the server ended the stream (its timeout, or it stopped)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> SseEvents:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
