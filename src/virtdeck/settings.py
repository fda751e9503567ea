"""Settings: where virtdeck keeps its data and which libvirt it talks to.

Each setting has a default, an environment variable, and (for the URI and the
domain type) a CLI option that wins over both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from virtdeck.defaults import DEFAULT_URI, URI_ENV
from virtdeck.errors import InvalidInput

DomainTypeChoice = Literal["auto", "kvm", "qemu"]


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/virtdeck")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(base) / "virtdeck"


class Settings(BaseModel):
    uri: str = DEFAULT_URI
    data_dir: Path = Field(default_factory=_default_data_dir)
    # Where new disks go when the default storage pool does not say otherwise.
    images_dir: Path = Path("/var/lib/libvirt/images")
    # The storage pool new disks go to; created at images_dir when missing.
    pool: str = "default"
    appliance_dir: Path = Path("/var/lib/virtdeck/appliance")
    # Serial console logs, written by virtlogd; kept after the VM stops.
    serial_log_dir: Path = Path("/var/log/libvirt/qemu")
    domain_type: DomainTypeChoice = "auto"
    # Directories besides the storage pools that disk images, CDs and bases
    # may come from (VIRTDECK_ALLOWED_DIRS, separated by ':'). A path outside
    # every pool and these is refused: naming a file is not reading it.
    allowed_dirs: list[Path] = Field(default_factory=list)
    kvm_probe_timeout: float = 12.0
    # The largest virtual size of a disk image virtdeck takes (create, clone, disk add).
    max_image_bytes: int = Field(default=4 << 40, gt=0)
    # A database for servers sharing one (postgresql+psycopg://...); None is
    # SQLite in data_dir. May hold a password: shown only through db.shown_url.
    database_url: str | None = Field(default=None, repr=False)
    # How long an API request waits on its engine call before it answers 504
    # (seconds, VIRTDECK_API_DEADLINE); calls that wait on purpose add theirs.
    api_deadline: float = Field(default=30.0, gt=0, le=3600)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        for field, var in (
            ("uri", URI_ENV),
            ("data_dir", "VIRTDECK_DATA_DIR"),
            ("images_dir", "VIRTDECK_IMAGES_DIR"),
            ("pool", "VIRTDECK_POOL"),
            ("appliance_dir", "VIRTDECK_APPLIANCE_DIR"),
            ("serial_log_dir", "VIRTDECK_SERIAL_LOG_DIR"),
            ("domain_type", "VIRTDECK_DOMAIN_TYPE"),
            ("max_image_bytes", "VIRTDECK_MAX_IMAGE_BYTES"),
            ("database_url", "VIRTDECK_DATABASE_URL"),
            ("api_deadline", "VIRTDECK_API_DEADLINE"),
        ):
            if env.get(var):
                values[field] = env[var]
        if env.get("VIRTDECK_ALLOWED_DIRS"):
            values["allowed_dirs"] = [d for d in env["VIRTDECK_ALLOWED_DIRS"].split(":") if d]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(
                f"setting {field} is invalid ({first['msg']}); fix the option or its "
                "VIRTDECK_* environment variable"
            ) from exc
