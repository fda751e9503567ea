"""The digest that identifies one version of a definition."""

from __future__ import annotations

import hashlib


def xml_digest(xml: str) -> str:
    return hashlib.sha256(xml.encode()).hexdigest()
