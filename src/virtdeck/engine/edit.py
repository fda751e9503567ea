"""Editing a definition: validate, diff, define, keep the old version."""

from __future__ import annotations

from .base import EngineBase


class EditMixin(EngineBase):
    pass
