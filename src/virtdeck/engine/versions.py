"""One recorded version of a VM's definition, apart from the database code.

Kept out of history.py so that reading a version's fields does not load
SQLAlchemy (a quick command must not pay for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Version:
    version: int
    action: str
    xml: str
    deleted: bool
    created_at: datetime
    uuid: str
    name: str
