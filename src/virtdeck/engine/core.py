"""The engine: the one Python interface the CLI (and later the API) calls.

Typed methods, Pydantic in and out, every failure a ``VirtdeckError``.
libvirt is the truth for every VM; the engine keeps only what libvirt has
no place for (the history of definitions). Each area lives in its own
module as a mixin over ``EngineBase``.
"""

from __future__ import annotations

from .consoles import ConsoleMixin
from .create import CreateMixin
from .edit import EditMixin
from .history_ops import HistoryMixin
from .lifecycle import LifecycleMixin
from .live import LiveMixin
from .operation_ops import OperationsMixin
from .snapshots import SnapshotMixin
from .vms import VmMixin


class Engine(
    CreateMixin,
    VmMixin,
    LiveMixin,
    LifecycleMixin,
    SnapshotMixin,
    ConsoleMixin,
    EditMixin,
    HistoryMixin,
    OperationsMixin,
):
    """All of virtdeck's operations on one libvirt host."""
