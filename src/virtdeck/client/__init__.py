"""The engine interface over HTTP: what the remote CLI calls instead of the engine."""

from .http import HttpEngine

__all__ = ["HttpEngine"]
