"""Quoting what a user gave in a message: enough to recognise it, never all of it.

A message that repeats a value verbatim grows with the value: a 1 MB name, a
YAML alias bomb expanded by ``repr`` (gigabytes), an integer of a million
digits (Python refuses to print it). ``quote`` cuts strings and describes
containers instead of expanding them.
"""

from __future__ import annotations

QUOTE_MAX = 80
_BIG_INT_BITS = 256


def clip(text: str, limit: int = QUOTE_MAX) -> str:
    """``text`` itself when short, else its first ``limit`` characters, "…" and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def quote(value: object, limit: int = QUOTE_MAX) -> str:
    """``repr`` of a user's value for a message, at most ``limit`` characters of it.

    A longer string is cut, followed by "…" and its full length; a list or a
    mapping is described by its size, never printed.
    """
    if isinstance(value, str | bytes):
        if len(value) <= limit:
            return repr(value)
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:limit]!r}… ({len(value)} {unit})"
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > _BIG_INT_BITS:
            return f"a number of {value.bit_length()} bits"
        return repr(value)
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    return f"a value of type {type(value).__name__}"
