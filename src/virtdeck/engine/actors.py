"""Who asked: the actor of the current request, and what the engine did recently for whom.

``current_actor`` holds the ``Actor`` a front end acts for: the API sets it
per request (``acting_as``); the local CLI leaves it unset, which means the
local user. Every change to a VM holds its lock (``HostContext.lock_vm`` or
``lock_name``), and the lock notes the change in ``ACTIONS``: which VM, what
action, for whom, in which operation, and when. An event stream asks
``ACTIONS.match`` who caused an event that libvirt reports: a note of the
same VM whose action can cause that kind of event, open at the time or
ended at most a few seconds before. What nobody here did (virsh, another
tool) matches no note and has no actor. Notes are dropped a few seconds
after they end, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user: str
    via: str  # "cli" (the local command line), "api" (a request), ...
    client: str | None = None  # the client's address, for a request


@functools.cache
def local_actor() -> Actor:
    """The user this process runs as, on the local command line."""
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    return Actor(user=user, via="cli")


current_actor: ContextVar[Actor | None] = ContextVar("virtdeck_actor", default=None)
# The operation the current thread works for (set while it runs).
current_operation: ContextVar[int | None] = ContextVar("virtdeck_operation", default=None)


def actor() -> Actor:
    """Who the engine acts for now: the request's actor, or the local user."""
    return current_actor.get() or local_actor()


@contextlib.contextmanager
def acting_as(who: Actor) -> Iterator[None]:
    """Everything the engine does inside is done for ``who``."""
    token = current_actor.set(who)
    try:
        yield
    finally:
        current_actor.reset(token)


# The kinds of event (host/events.py names) each action causes; an action
# not listed may cause any (an edit, a snapshot, a restore ...).
EXPECTED: dict[str, frozenset[str]] = {
    "start": frozenset({"started"}),
    "stop": frozenset({"stopped", "shutdown"}),
    "reboot": frozenset({"stopped", "shutdown", "started", "rebooted"}),
    "pause": frozenset({"paused"}),
    "resume": frozenset({"resumed"}),
    "delete": frozenset({"stopped", "undefined"}),
    "rename": frozenset({"defined", "undefined"}),
    "create": frozenset({"defined", "started"}),
    "clone": frozenset({"defined"}),
}
GRACE_SECONDS = 5.0
MAX_NOTES = 10_000
MAX_OPERATIONS = 1000


@dataclass
class _Note:
    host: str
    uuid: str | None
    name: str | None
    action: str
    actor: Actor
    operation_id: int | None
    begun: float  # time.time()
    ended: float | None = None


@dataclass(frozen=True)
class Attribution:
    actor: Actor
    operation_id: int | None
    action: str


class ActionLog:
    """Recent changes the engine made, by VM; thread-safe, bounded."""

    def __init__(self, grace: float = GRACE_SECONDS, limit: int = MAX_NOTES) -> None:
        self.grace = grace
        self.limit = limit
        self._lock = threading.Lock()
        self._notes: list[_Note] = []
        self._operations: OrderedDict[int, Actor] = OrderedDict()
        # The notes the current task holds open (a tuple: contexts copy it).
        self._open: ContextVar[tuple[_Note, ...]] = ContextVar("virtdeck_open_notes", default=())

    @contextlib.contextmanager
    def acting(
        self, host: str, action: str, uuid: str | None = None, name: str | None = None
    ) -> Iterator[None]:
        """Note ``action`` on the VM (by UUID, or by the name it will have) while inside."""
        note = _Note(host, uuid, name, action, actor(), current_operation.get(), time.time())
        with self._lock:
            self._prune(note.begun)
            self._notes.append(note)
        token = self._open.set((*self._open.get(), note))
        try:
            yield
        finally:
            self._open.reset(token)
            note.ended = time.time()

    def attach_operation(self, op_id: int) -> Token[int | None]:
        """The changes this task notes (and has open now) belong to operation ``op_id``.

        Returns the token that ``current_operation.reset`` takes once it ended.
        """
        token = current_operation.set(op_id)
        who = actor()
        with self._lock:
            for note in self._open.get():
                if note.operation_id is None:
                    note.operation_id = op_id
            self._operations[op_id] = who
            while len(self._operations) > MAX_OPERATIONS:
                self._operations.popitem(last=False)
        return token

    def operation_actor(self, op_id: int) -> Actor | None:
        """Who started operation ``op_id`` in this process, if it was recently."""
        with self._lock:
            return self._operations.get(op_id)

    def match(
        self, host: str, uuid: str | None, name: str | None, kind: str, when: float
    ) -> Attribution | None:
        """Who caused an event of ``kind`` on the VM at ``when`` (time.time()), if we did."""
        with self._lock:
            for note in reversed(self._notes):
                if note.host != host or not (
                    (uuid and note.uuid == uuid) or (name and note.name == name)
                ):
                    continue
                kinds = EXPECTED.get(note.action)
                if kinds is not None and kind not in kinds:
                    continue
                if when < note.begun or (note.ended is not None and when > note.ended + self.grace):
                    continue
                return Attribution(note.actor, note.operation_id, note.action)
        return None

    def _prune(self, now: float) -> None:
        cutoff = now - self.grace
        self._notes = [n for n in self._notes if n.ended is None or n.ended >= cutoff]
        if len(self._notes) >= self.limit:  # only open notes left: a leak, not traffic
            del self._notes[: len(self._notes) - self.limit + 1]

    def __len__(self) -> int:
        return len(self._notes)


ACTIONS = ActionLog()
