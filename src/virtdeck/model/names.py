"""Names of virtual machines and other libvirt objects.

A name is 1-64 characters of ASCII letters, digits, ``.``, ``_`` and ``-``,
starting with a letter or digit. That keeps it safe as a file name (disks are
named after their VM), in XML and in a shell, and within what libvirt and
QEMU accept everywhere.
"""

from __future__ import annotations

import re

from .text import quote

NAME_MAX = 64
# \Z, not $: "$" also matches before a trailing newline, which would let "vm\n" pass.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
NAME_RULE = (
    f"1-{NAME_MAX} characters of letters, digits, '.', '_' and '-', starting with a letter or digit"
)


class InvalidName(ValueError):
    """A name that breaks the rule; the message quotes the rule."""


def check_name(name: str, kind: str = "VM") -> str:
    if not name:
        raise InvalidName(f"{kind} name cannot be empty: use {NAME_RULE}")
    if len(name) > NAME_MAX or not _NAME.match(name):
        raise InvalidName(f"{kind} name {quote(name)} is not allowed: use {NAME_RULE}")
    return name


# Names of VMs made elsewhere (virsh define) may break NAME_RULE and still be
# legal in libvirt ("rp-[red]x"): they can be looked up, with a looser rule
# that still keeps a hostile name from reaching a file path or a terminal.
LOOKUP_NAME_MAX = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_lookup_name(name: str, kind: str = "VM") -> str:
    """A name that may name an existing object: refused before it reaches libvirt.

    At most LOOKUP_NAME_MAX characters, no control characters (a newline
    would forge a line of output) and no '/' (libvirt refuses it in names).
    """
    if not name:
        raise InvalidName(f"a {kind} name cannot be empty")
    if len(name) > LOOKUP_NAME_MAX:
        raise InvalidName(
            f"{kind} name {quote(name)} is longer than {LOOKUP_NAME_MAX} characters, "
            f"so no such {kind} can exist"
        )
    if _CONTROL.search(name) or "/" in name:
        raise InvalidName(
            f"{kind} name {quote(name)} contains a control character or '/', "
            f"which no {kind} name has"
        )
    return name


def disk_file_name(vm_name: str, vm_uuid: str, role: str, extension: str) -> str:
    """The file name of a disk virtdeck makes for a VM: ``web1-1a2b3c4d-vda.qcow2``.

    The UUID's first eight digits keep it apart from every other VM's files,
    also from those of a VM that was called ``web1`` before a rename (its
    disks keep their names) or of a deleted one whose disks were kept.
    """
    return f"{vm_name}-{vm_uuid.replace('-', '')[:8]}-{role}.{extension}"
