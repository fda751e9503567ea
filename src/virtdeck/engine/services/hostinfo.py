"""The host: its checks, and which domain type new VMs get."""

from __future__ import annotations

from dataclasses import asdict

from virtdeck.host import checks
from virtdeck.host.kvmprobe import KvmProbe

from .. import acceleration
from ..context import HostContext
from ..schemas import Acceleration, Finding, HostInfo, HostReport


class HostService:
    """What this host offers: its checks, and the domain type new VMs get."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.host = ctx.host
        self.settings = ctx.settings

    def host_info(self) -> HostInfo:
        lib, hypervisor = self.host.versions()
        return HostInfo(
            id=self.ctx.host_id,
            uri=self.host.uri,
            libvirt_version=lib,
            hypervisor_version=hypervisor,
        )

    def connected(self) -> bool | None:
        """Whether the connection to libvirtd is up now; None before one was opened.

        Never opens one and never waits on libvirtd: a health check must answer
        while libvirtd hangs.
        """
        return self.host.connected()

    def acceleration(self, refresh: bool = False) -> Acceleration:
        if self.host.is_test_driver:
            return Acceleration(domain_type="qemu", reason="libvirt test driver", source="override")
        return acceleration.choose(self.settings, self.host.is_local, refresh)

    def host_check(self, refresh: bool = False) -> HostReport:
        accel_box: list[Acceleration] = []

        def probe() -> KvmProbe:
            return acceleration.cached_probe(self.settings, refresh)[0]

        raw = checks.run_checks(self.host, self.settings.images_dir, probe)
        findings = [Finding.model_validate(asdict(f)) for f in raw]
        if findings[0].status == "ok":
            accel_box.append(self.acceleration())
        report = HostReport(
            uri=self.host.uri, findings=findings, acceleration=accel_box[0] if accel_box else None
        )
        if report.acceleration is not None:
            accel = report.acceleration
            report.findings.append(
                Finding(
                    name="domain-type",
                    status="ok",
                    summary=_acceleration_summary(accel),
                    data={
                        "domain_type": accel.domain_type,
                        "cpu_mode": accel.cpu_mode,
                        "source": accel.source,
                    },
                )
            )
        return report


def _acceleration_summary(accel: Acceleration) -> str:
    mode = f" with CPU mode {accel.cpu_mode}" if accel.cpu_mode else ""
    return f"new VMs get domain type '{accel.domain_type}'{mode} ({accel.reason})"
