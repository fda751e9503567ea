"""Live changes: vCPUs, memory, disks and NICs of a VM, and apply/spec."""

from __future__ import annotations

from .base import EngineBase


class LiveMixin(EngineBase):
    pass
