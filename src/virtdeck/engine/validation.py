"""The one boundary where errors of the layers below become ``VirtdeckError``s.

The model raises plain ``ValueError`` subclasses (a bad name, a size that
does not parse, XML that is not a domain) and Pydantic raises
``ValidationError`` for a request that does not fit its schema; neither
knows about front ends. Every method of the engine's interface passes
through ``translated``, which turns them into ``InvalidInput`` with the
field they concern, so no service repeats the conversion.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pydantic import ValidationError

from virtdeck.errors import InvalidInput
from virtdeck.model import InvalidName, SizeError, XmlError, clip, quote

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)

MODEL_ERRORS = (InvalidName, SizeError, XmlError)


def from_validation_error(exc: ValidationError, what: str = "the request") -> InvalidInput:
    """One sentence from the first problem: which field, what value, why."""
    first = exc.errors(include_url=False)[0]
    loc = first["loc"]
    field = ".".join(str(part) for part in loc) or None
    where = clip(field) if field else what
    if first["type"] == "extra_forbidden":
        return InvalidInput(f"{what} has an unknown field {quote(loc[-1])}", field=field)
    if first["type"] == "missing":
        return InvalidInput(f"{what} lacks the field {where}", field=field)
    reason = clip(str(first["msg"]).removeprefix("Value error, "), limit=200)
    return InvalidInput(
        f"{where} has a bad value {quote(first.get('input'))} ({reason})", field=field
    )


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with model and validation errors raised as ``InvalidInput``."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except MODEL_ERRORS as exc:
            raise InvalidInput(str(exc), field=getattr(exc, "field", None)) from exc
        except ValidationError as exc:
            raise from_validation_error(exc) from exc

    return call


def translate_public_methods(names: frozenset[str]) -> Callable[[C], C]:
    """A class decorator: each method named in ``names`` goes through ``translated``."""

    def decorate(cls: C) -> C:
        for name in names:
            setattr(cls, name, translated(getattr(cls, name)))
        return cls

    return decorate


def check_vm_name(name: str) -> str:
    """``name`` if it can name a VM at all; the engine's own InvalidInput otherwise.

    For front ends that meet a name before any engine call does (the API,
    when a path segment held an encoded '/').
    """
    from virtdeck.host.domains import checked_name  # noqa: PLC0415 - host loads libvirt

    return checked_name(name)
