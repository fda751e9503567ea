"""What a host can ever give a VM: its memory and the hypervisor's vCPU limit.

Asking for more is refused up front with the limit in the message, instead
of a define that succeeds and a start that fails (or an OOM later).
"""

from __future__ import annotations

from virtdeck.errors import InvalidInput
from virtdeck.host import capacity
from virtdeck.host.connection import Host
from virtdeck.model import format_size

# Below this no guest kernel boots; a typo like '--memory 16' (MiB) for 16G.
MIN_MEMORY_BYTES = 16 * 2**20


def check_memory(host: Host, size_bytes: int, what: str, *, field: str | None = None) -> None:
    """InvalidInput when ``size_bytes`` is more memory than the host has.

    ``what`` names the size in the message: words, or a request field as
    ``opt()``; ``field`` is the request field it came in, for the error's.
    """
    total = capacity.memory_bytes(host)
    if size_bytes > total:
        raise InvalidInput(
            f"{what} {format_size(size_bytes)} is more than this host has "
            f"({format_size(total)}); give at most {format_size(total)}",
            field=field,
        )


def check_vcpus(
    host: Host, count: int, domain_type: str, what: str, *, field: str | None = None
) -> None:
    """InvalidInput above the hypervisor's vCPU limit; ``what`` and ``field`` as in check_memory."""
    limit = capacity.max_vcpus(host, domain_type)
    if limit is not None and count > limit:
        raise InvalidInput(
            f"{what} {count} is more than a '{domain_type}' VM can have on this host "
            f"({limit}); give at most {limit}",
            field=field,
        )
