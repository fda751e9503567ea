"""Defaults that start-up code needs before anything heavy is imported."""

from __future__ import annotations

# The libvirt URI when neither --connect nor the environment names one, as
# in virsh run by root.
DEFAULT_URI = "qemu:///system"
URI_ENV = "VIRTDECK_CONNECT"
