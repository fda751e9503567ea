"""Which request field a checked value came in, for the errors about it.

A host function that checks a value (a path, a size) takes ``what``, the
words its messages use for that value: either a request field marked with
``opt()`` (``opt("iso")``: the CLI shows --iso, the API 'iso') or plain words
("disk vda of VM web1"). An error about a value that came in a field names
that field in ``field``, so the API can point at it.
"""

from __future__ import annotations

from virtdeck.errors import VirtdeckError, opt


def field_named(what: str) -> str | None:
    """The request field ``what`` is (``opt("iso")`` -> "iso"); None for plain words."""
    # A message's fields are read back through the error class, the one
    # place that knows how opt() marks them.
    named = VirtdeckError(what).fields
    if len(named) == 1 and opt(named[0]) == what:
        return named[0]
    return None
