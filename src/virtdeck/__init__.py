"""virtdeck: KVM/QEMU virtual machines from Python, on libvirt."""

__version__ = "0.1.0"
