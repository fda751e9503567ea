"""The engine: one typed interface over hosts, used by the CLI, API and web UI."""

from .api import EngineApi
from .engine import Engine

__all__ = ["Engine", "EngineApi"]
