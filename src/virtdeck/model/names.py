"""Names of virtual machines and other libvirt objects.

A name is 1-64 characters of ASCII letters, digits, ``.``, ``_`` and ``-``,
starting with a letter or digit. That keeps it safe as a file name (disks are
named after their VM), in XML and in a shell, and within what libvirt and
QEMU accept everywhere.
"""

from __future__ import annotations

import re

NAME_MAX = 64
# \Z, not $: "$" also matches before a trailing newline, which would let "vm\n" pass.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
NAME_RULE = (
    f"1-{NAME_MAX} characters of letters, digits, '.', '_' and '-', starting with a letter or digit"
)


class InvalidName(ValueError):
    """A name that breaks the rule; the message quotes the rule."""


def check_name(name: str, kind: str = "VM") -> str:
    if not name or len(name) > NAME_MAX or not _NAME.match(name):
        raise InvalidName(f"{kind} name {name!r} is not allowed: use {NAME_RULE}")
    return name
