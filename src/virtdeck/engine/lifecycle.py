"""Lifecycle beyond start/stop: reboot, pause, resume, autostart, rename, clone, events."""

from __future__ import annotations

from .base import EngineBase


class LifecycleMixin(EngineBase):
    pass
