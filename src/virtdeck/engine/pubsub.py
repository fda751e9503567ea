"""In-process publish/subscribe with bounded queues: a slow reader never holds up a writer.

``Bus.publish`` hands an item to every subscriber's callback on the
publisher's thread; a subscriber's callback should only queue it (a
``DropOldest`` queue: when full, the oldest item goes, so a reader that
stopped reading costs a fixed amount of memory). ``operation_updates``
carries every change of an operation's row made in this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from .operation_record import OperationRecord

T = TypeVar("T")
log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000


class DropOldest(Generic[T]):
    """A thread-safe queue of at most ``limit`` items; a full one drops its oldest."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self._items: deque[T] = deque(maxlen=limit)
        self._ready = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._ready:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            self._ready.notify()

    def get(self, timeout: float) -> T | None:
        """The oldest item, or None when none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while not self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._ready.wait(left)
            return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class Bus(Generic[T]):
    """Subscribers by callback; ``subscribe`` returns the function that unsubscribes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, Callable[[T], None]] = {}
        self._next = 0

    def subscribe(self, deliver: Callable[[T], None]) -> Callable[[], None]:
        with self._lock:
            key = self._next
            self._next += 1
            self._subscribers[key] = deliver

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)

        return unsubscribe

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def publish(self, item: T) -> None:
        with self._lock:
            subscribers = list(self._subscribers.values())
        for deliver in subscribers:
            try:
                deliver(item)
            except Exception:  # a subscriber's fault never stops the publisher's work
                log.exception("an event subscriber failed")


# Every change of an operation's row (begun, a step, its progress, its end).
operation_updates: Bus[OperationRecord] = Bus()
