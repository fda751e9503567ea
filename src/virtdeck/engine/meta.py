"""Keys of virtdeck's own facts about a VM, kept in its ``<metadata>``.

They live in the domain XML under virtdeck's namespace, so they travel with
the VM through ``virsh dumpxml``, migration and backups.
"""

from __future__ import annotations

# The disk files virtdeck made for the VM: 'vm delete' removes these, no others.
META_CREATED_DISKS = "created-disks"
META_CREATED_BY = "created-by"
META_BASE_IMAGE = "base-image"
META_INSTALL_ISO = "install-iso"
META_CLONED_FROM = "cloned-from"
