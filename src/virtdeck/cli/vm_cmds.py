"""``virtdeck vm ...``: create and drive virtual machines (virsh names work too)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from virtdeck.engine.schemas import (
    USER_DATA_MAX_BYTES,
    VCPUS_MAX,
    GraphicsKind,
    StopResult,
    VmCreate,
    VmDetail,
    VmSummary,
)
from virtdeck.errors import InvalidInput
from virtdeck.model import format_size, quote

from .context import engine
from .fast_list import HEADER as LIST_HEADER
from .fast_list import vm_row
from .options import TIMEOUT_MAX, JsonOpt, NameArg, size_option
from .render import console, print_fields, print_json, print_table
from .waiting import wait_for

app = typer.Typer(help="Create and manage virtual machines.", no_args_is_help=True)


def _size(value: str | None, option: str) -> int | None:
    return None if value is None else size_option(value, option)


def _mem(kib: int) -> str:
    return format_size(kib * 1024)


@app.command("list")
def list_vms(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    all_: Annotated[
        bool,
        typer.Option("--all", "-a", help="Accepted for virsh habits; every VM is always listed."),
    ] = True,
) -> None:
    """List VMs: name, state, vCPUs, memory, IP addresses, autostart."""
    # A local 'vm list' usually never gets here: cli/fast_list.py answers it
    # first, with the same rows (vm_row) and the same JSON.
    vms = engine(ctx).list_vms()
    if as_json:
        print_json(vms)
        return
    print_table([vm_row(vm) for vm in vms], header=LIST_HEADER)


def _print_detail(vm: VmDetail) -> None:
    rows = [
        ("Name", vm.name),
        ("UUID", vm.uuid),
        ("State", vm.state),
        ("Domain type", vm.domain_type or "-"),
        ("Machine", vm.machine or "-"),
        ("vCPUs", f"{vm.vcpus} (max {vm.max_vcpus})"),
        ("Memory", f"{_mem(vm.memory_kib)} (max {_mem(vm.max_memory_kib)})"),
        ("Autostart", "yes" if vm.autostart else "no"),
        ("Addresses", ", ".join(vm.addresses) or "-"),
    ]
    for disk in vm.disks:
        owned = " (created by virtdeck)" if disk.created_by_virtdeck else ""
        rows.append((f"Disk {disk.target}", f"{disk.path or '-'} [{disk.format or '-'}]{owned}"))
    for index, nic in enumerate(vm.nics):
        rows.append(
            (
                f"NIC {index}",
                f"{nic.type} {nic.source or '-'} {nic.mac or ''} {nic.model or ''}".strip(),
            )
        )
    for graphics in vm.graphics:
        rows.append(("Graphics", graphics))
    rows.append(("Serial log", vm.serial_log or "-"))
    print_fields(rows)


@app.command("show")
def show(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Show one VM (virsh dominfo)."""
    vm = engine(ctx).get_vm(name)
    if as_json:
        print_json(vm)
    else:
        _print_detail(vm)


app.command("dominfo", hidden=True)(show)


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="BASE",
            help="Base image: the new disk is a qcow2 overlay on it (linked clone).",
        ),
    ] = None,
    full_copy: Annotated[
        bool,
        typer.Option("--full-copy", help="With --image: copy the base into an independent disk."),
    ] = False,
    import_disk: Annotated[
        str | None,
        typer.Option("--import-disk", metavar="FILE", help="Boot an existing disk as it is."),
    ] = None,
    iso: Annotated[
        str | None,
        typer.Option(
            "--iso",
            metavar="FILE",
            help="Install from this CD image onto a new empty disk of --disk-size.",
        ),
    ] = None,
    disk_size: Annotated[
        str | None,
        typer.Option(
            "--disk-size",
            metavar="SIZE",
            help="Size of the new disk (e.g. 10G): grows an --image clone, sizes an --iso disk.",
        ),
    ] = None,
    hostname: Annotated[
        str | None,
        typer.Option(
            "--hostname", help="cloud-init: the guest's host name (default: the VM name)."
        ),
    ] = None,
    ssh_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--ssh-key",
            metavar="FILE",
            help="cloud-init: an SSH public key file (.pub) to log in with; repeat for more.",
        ),
    ] = None,
    user_data: Annotated[
        Path | None,
        typer.Option(
            "--user-data", metavar="FILE", help="cloud-init: user-data passed to the guest as is."
        ),
    ] = None,
    cpus: Annotated[int, typer.Option("--cpus", min=1, max=VCPUS_MAX, help="vCPUs at boot.")] = 1,
    max_cpus: Annotated[
        int | None,
        typer.Option(
            "--max-cpus", min=1, max=VCPUS_MAX, help="vCPUs the VM can grow to while running."
        ),
    ] = None,
    memory: Annotated[str, typer.Option("--memory", help="Memory, e.g. 512M, 2G.")] = "512M",
    max_memory: Annotated[
        str | None, typer.Option("--max-memory", help="Memory the balloon can grow to.")
    ] = None,
    network: Annotated[
        list[str] | None,
        typer.Option(
            "--network",
            metavar="NET",
            help="libvirt network for a NIC (repeat for more); 'none' for no NIC.",
        ),
    ] = None,
    graphics: Annotated[str, typer.Option("--graphics", metavar="vnc|spice|none")] = "vnc",
    graphics_listen: Annotated[
        str, typer.Option("--graphics-listen", metavar="ADDR")
    ] = "127.0.0.1",
    graphics_password: Annotated[str | None, typer.Option("--graphics-password")] = None,
    start: Annotated[bool, typer.Option("--start", help="Start it after creating.")] = False,
    autostart: Annotated[
        bool, typer.Option("--autostart", help="Start it when the host boots.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a VM from a base image (linked clone), an installer ISO or an existing disk.

    --hostname, --ssh-key and --user-data give it a cloud-init (NoCloud) seed CD.
    """
    if graphics not in ("vnc", "spice", "none"):
        raise InvalidInput(f"--graphics must be vnc, spice or none, not {quote(graphics)}")
    networks: list[str] | None = None
    if network:
        networks = [] if network == ["none"] else network
    memory_bytes = _size(memory, "--memory")
    assert memory_bytes is not None
    req = VmCreate(
        name=name,
        cpus=cpus,
        max_cpus=max_cpus,
        memory_bytes=memory_bytes,
        max_memory_bytes=_size(max_memory, "--max-memory"),
        networks=networks,
        graphics=_graphics(graphics),
        graphics_listen=graphics_listen,
        graphics_password=graphics_password,
        image=image,
        full_copy=full_copy,
        import_disk=import_disk,
        iso=iso,
        disk_size_bytes=_size(disk_size, "--disk-size"),
        hostname=hostname,
        ssh_keys=[_read_text(p, "--ssh-key", 64 * 1024) for p in ssh_key or []],
        user_data=None if user_data is None else _read_text(user_data, "--user-data"),
        start=start,
        autostart=autostart,
    )
    vm = wait_for(ctx, engine(ctx).submit_create(req), VmDetail)
    if as_json:
        print_json(vm)
    else:
        console.print(f"Created VM {vm.name} ({vm.state})")
        _print_detail(vm)


def _read_text(path: Path, option: str, limit: int = USER_DATA_MAX_BYTES) -> str:
    """A small UTF-8 file of the user's, read here because it lives on the client side."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit)
    except FileNotFoundError as exc:
        raise InvalidInput(f"{option} {path} does not exist; give the path of a file") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {option} {path}: {exc.strerror}") from exc
    if len(raw) >= limit:
        raise InvalidInput(
            f"{option} {path} is too large ({format_size(limit)} or more); "
            "give a file below that size"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{option} {path} is not UTF-8 text; give a text file") from exc


def _graphics(value: str) -> GraphicsKind:
    if value == "vnc":
        return "vnc"
    if value == "spice":
        return "spice"
    return "none"


def _state_line(vm: VmSummary) -> str:
    return f"VM {vm.name} is {vm.state}"


@app.command("start")
def start(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Start a VM."""
    vm = engine(ctx).start_vm(name)
    if as_json:
        print_json(vm)
    else:
        console.print(_state_line(vm))


@app.command("stop")
def stop(
    ctx: typer.Context,
    name: NameArg,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0, max=TIMEOUT_MAX, help="Seconds to wait for the guest."),
    ] = 60.0,
    force: Annotated[
        bool, typer.Option("--force", help="Power off at once (virsh destroy).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Shut a VM down by ACPI and wait (virsh shutdown); --force powers it off."""
    _print_stop(engine(ctx).stop_vm(name, timeout=timeout, force=force), as_json)


app.command("shutdown", hidden=True)(stop)


def _print_stop(result: StopResult, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    word = "powered off" if result.how == "destroyed" else "shut down"
    console.print(f"VM {result.name} {word}")


@app.command("destroy", hidden=True)
def destroy(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Power a VM off at once (same as stop --force)."""
    _print_stop(engine(ctx).stop_vm(name, force=True), as_json)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    keep_disks: Annotated[
        bool, typer.Option("--keep-disks", help="Keep the disks virtdeck created for it.")
    ] = False,
    # No -f: a switch that powers a VM off and deletes it is typed in full
    # (docs/cli.md, short options).
    force: Annotated[bool, typer.Option("--force", help="Power it off first if it runs.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a stopped VM and the disks virtdeck created for it (virsh undefine)."""
    result = engine(ctx).delete_vm(name, keep_disks=keep_disks, force=force)
    if as_json:
        print_json(result)
        return
    console.print(f"Deleted VM {name}")
    for path in result.removed_disks:
        console.print(f"  removed disk {path}")
    for path in result.kept_disks:
        why = result.kept_reasons.get(path)
        console.print(f"  kept disk {path}" + (f": {why}" if why else ""))
    for path in result.removed_logs:
        console.print(f"  removed serial log {path}")


app.command("undefine", hidden=True)(delete)


@app.command("xml")
def xml(
    ctx: typer.Context,
    name: NameArg,
    inactive: Annotated[
        bool, typer.Option("--inactive", help="The persistent definition, not the running one.")
    ] = False,
) -> None:
    """Print a VM's libvirt XML (virsh dumpxml)."""
    print(engine(ctx).vm_xml(name, inactive=inactive))


app.command("dumpxml", hidden=True)(xml)


@app.command("log")
def log(
    ctx: typer.Context,
    name: NameArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new lines (tail -F).")
    ] = False,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="TEXT", help="With --follow: stop after a line containing TEXT."
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            max=TIMEOUT_MAX,
            help="With --follow: give up after this many seconds.",
        ),
    ] = None,
) -> None:
    """What the guest printed on its serial console since it last started."""
    eng = engine(ctx)
    if not follow:
        print(eng.read_log(name), end="")
        return
    for line in eng.follow_log(name, until=until, timeout=timeout):
        print(line, flush=True)
