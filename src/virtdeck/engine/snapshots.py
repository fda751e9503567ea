"""Snapshots: create (with memory for a running VM), list, revert, delete."""

from __future__ import annotations

from .base import EngineBase


class SnapshotMixin(EngineBase):
    pass
