"""``vm set-cpus``, ``set-memory`` and their maximums, ``vm disk ...``, ``vm nic ...``, ``vm spec``.

cli/main.py merges ``app``'s commands and groups into ``virtdeck vm``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from virtdeck.engine.schemas import VCPUS_MAX, DeviceChange, DiskAdd, LiveChange, NicAdd
from virtdeck.engine.spec_plan import dump_spec
from virtdeck.model import format_size

from .context import engine
from .options import JsonOpt, NameArg, size_option
from .render import console, print_json, print_table

app = typer.Typer()
disk_app = typer.Typer(help="List, add (hot-plug) and remove disks.", no_args_is_help=True)
nic_app = typer.Typer(help="List, add (hot-plug) and remove NICs.", no_args_is_help=True)
app.add_typer(disk_app, name="disk")
app.add_typer(nic_app, name="nic")

LiveOpt = Annotated[
    bool, typer.Option("--live", help="Change the running guest (default when it runs).")
]
ConfigOpt = Annotated[
    bool, typer.Option("--config", help="Change the definition, used from the next start.")
]
SizeArg = Annotated[str, typer.Argument(metavar="SIZE", help="Size, e.g. 512M or 2G.")]
CountArg = Annotated[
    int, typer.Argument(metavar="N", min=1, max=VCPUS_MAX, help="Number of vCPUs.")
]


def _where(live: bool, config: bool) -> str:
    if live and config:
        return "now and from its next start"
    if live:
        return "now, until it restarts"
    return "from its next start"


def _print_change(change: LiveChange, as_json: bool) -> None:
    if as_json:
        print_json(change)
        return
    labels = {
        "vcpus": ("vCPUs", str(change.value)),
        "max_vcpus": ("maximum vCPUs", str(change.value)),
        "memory": ("memory", format_size(change.value * 1024)),
        "max_memory": ("maximum memory", format_size(change.value * 1024)),
    }
    label, value = labels[change.setting]
    console.print(f"VM {change.name}: {label} {value} {_where(change.live, change.config)}")
    for note in change.notes:
        console.print(f"  {note}")


@app.command("set-cpus")
def set_cpus(
    ctx: typer.Context,
    name: NameArg,
    count: CountArg,
    live: LiveOpt = False,
    config: ConfigOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Set the vCPU count (hot-adds to a running VM, up to its maximum)."""
    _print_change(engine(ctx).set_cpus(name, count, live=live, config=config), as_json)


app.command("setvcpus", hidden=True)(set_cpus)


@app.command("set-max-cpus")
def set_max_cpus(
    ctx: typer.Context, name: NameArg, count: CountArg, as_json: JsonOpt = False
) -> None:
    """Set the most vCPUs a VM can have (while it is stopped)."""
    _print_change(engine(ctx).set_max_cpus(name, count), as_json)


@app.command("set-memory")
def set_memory(
    ctx: typer.Context,
    name: NameArg,
    size: SizeArg,
    live: LiveOpt = False,
    config: ConfigOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Set the memory (the balloon of a running VM), up to its maximum."""
    change = engine(ctx).set_memory(name, size_option(size, "memory"), live=live, config=config)
    _print_change(change, as_json)


app.command("setmem", hidden=True)(set_memory)


@app.command("set-max-memory")
def set_max_memory(
    ctx: typer.Context, name: NameArg, size: SizeArg, as_json: JsonOpt = False
) -> None:
    """Set the most memory a VM can have (while it is stopped)."""
    _print_change(engine(ctx).set_max_memory(name, size_option(size, "max memory")), as_json)


app.command("setmaxmem", hidden=True)(set_max_memory)


def _print_device(change: DeviceChange, as_json: bool) -> None:
    if as_json:
        print_json(change)
        return
    console.print(
        f"VM {change.name}: {change.device} {change.action} {_where(change.live, change.config)}"
    )
    for label, path in (
        ("created", change.created_file),
        ("deleted", change.deleted_file),
        ("kept", change.kept_file),
    ):
        if path:
            why = change.kept_reason if label == "kept" and change.kept_reason else None
            console.print(f"  {label} {path}" + (f": {why}" if why else ""))


def _in(live: bool, config: bool) -> str:
    return "live+config" if live and config else "live" if live else "config"


@disk_app.command("list")
def disk_list(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """A VM's disks, in the running guest and in the definition."""
    disks = engine(ctx).list_disks(name)
    if as_json:
        print_json(disks)
        return
    rows = [
        (
            d.target,
            d.device,
            d.format or "-",
            _in(d.live, d.config),
            "yes" if d.created_by_virtdeck else "no",
            d.path or "-",
        )
        for d in disks
    ]
    print_table(rows, header=("TARGET", "DEVICE", "FORMAT", "IN", "CREATED", "PATH"))


@disk_app.command("add")
def disk_add(
    ctx: typer.Context,
    name: NameArg,
    size: Annotated[
        str | None, typer.Option("--size", metavar="SIZE", help="A new qcow2 disk of SIZE.")
    ] = None,
    path: Annotated[
        str | None, typer.Option("--path", metavar="FILE", help="An existing disk image.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", metavar="vdX", help="Name in the guest.")
    ] = None,
    live: LiveOpt = False,
    config: ConfigOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a disk: a new one (--size) or an existing image (--path)."""
    req = DiskAdd(
        name=name,
        size_bytes=size_option(size, "--size") if size is not None else None,
        path=path,
        target=target,
        live=live,
        config=config,
    )
    _print_device(engine(ctx).add_disk(req), as_json)


@disk_app.command("remove")
def disk_remove(
    ctx: typer.Context,
    name: NameArg,
    target: Annotated[str, typer.Argument(metavar="TARGET", help="e.g. vdb")],
    keep_file: Annotated[
        bool, typer.Option("--keep-file", help="Keep a disk file virtdeck created.")
    ] = False,
    live: LiveOpt = False,
    config: ConfigOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove a disk; a file virtdeck created for it is deleted unless --keep-file."""
    change = engine(ctx).remove_disk(name, target, live=live, config=config, keep_file=keep_file)
    _print_device(change, as_json)


@nic_app.command("list")
def nic_list(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """A VM's NICs, in the running guest and in the definition."""
    nics = engine(ctx).list_nics(name)
    if as_json:
        print_json(nics)
        return
    rows = [
        (n.mac or "-", n.type or "-", n.source or "-", n.model or "-", _in(n.live, n.config))
        for n in nics
    ]
    print_table(rows, header=("MAC", "TYPE", "SOURCE", "MODEL", "IN"))


@nic_app.command("add")
def nic_add(
    ctx: typer.Context,
    name: NameArg,
    network: Annotated[str, typer.Option("--network", metavar="NET", help="libvirt network.")],
    mac: Annotated[str | None, typer.Option("--mac", help="Default: a new 52:54:00 one.")] = None,
    model: Annotated[str, typer.Option("--model", help="virtio, e1000e, e1000, rtl8139.")] = (
        "virtio"
    ),
    live: LiveOpt = False,
    config: ConfigOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a NIC on a libvirt network (hot-plugged into a running VM)."""
    req = NicAdd(name=name, network=network, mac=mac, model=model, live=live, config=config)
    _print_device(engine(ctx).add_nic(req), as_json)


@nic_app.command("remove")
def nic_remove(
    ctx: typer.Context,
    name: NameArg,
    mac: Annotated[str, typer.Argument(metavar="MAC", help="The NIC's MAC address.")],
    live: LiveOpt = False,
    config: ConfigOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove a NIC, by its MAC address."""
    _print_device(engine(ctx).remove_nic(name, mac, live=live, config=config), as_json)


@app.command("spec")
def spec(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Print a VM as a YAML spec that 'virtdeck apply -f' takes."""
    result = engine(ctx).vm_spec(name)
    if as_json:
        print_json(result, exclude_none=True)
    else:
        print(dump_spec(result), end="")
