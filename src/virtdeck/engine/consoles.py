"""Consoles: interactive serial console, graphics address, screenshots."""

from __future__ import annotations

from .base import EngineBase


class ConsoleMixin(EngineBase):
    pass
