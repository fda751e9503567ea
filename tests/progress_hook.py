"""Seeing an operation's steps from a test, as the CLI's status line does: through its store.

``on_step(engine, monkeypatch, listener)`` calls ``listener`` with the
operation's record each time it reaches a step; a listener that raises
makes the operation fail (or, with KeyboardInterrupt, stop) at that step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from virtdeck.engine import Engine
from virtdeck.engine.operation_record import OperationRecord
from virtdeck.engine.schemas import OperationInfo
from virtdeck.engine.services.operation_run import operation_info


def on_step(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, listener: Callable[[OperationInfo], object]
) -> None:
    store = engine.ctx.operation_store
    update = store.update

    def reporting(op_id: int, *args: Any, **kwargs: Any) -> OperationRecord:
        record = update(op_id, *args, **kwargs)
        if kwargs.get("step") is not None:
            listener(operation_info(record))
        return record

    monkeypatch.setattr(store, "update", reporting)
