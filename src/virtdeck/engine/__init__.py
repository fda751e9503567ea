"""The engine: one typed interface over hosts, used by the CLI, API and web UI."""

from .core import Engine

__all__ = ["Engine"]
