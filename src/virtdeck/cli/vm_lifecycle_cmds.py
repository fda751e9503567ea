"""``vm reboot|pause|resume|autostart|rename|clone|events`` (virsh names work too)."""

from __future__ import annotations

from typing import Annotated

import typer

from virtdeck.engine.schemas import VmDetail, VmEvent, VmSummary
from virtdeck.errors import InvalidInput
from virtdeck.model import quote

from .context import engine
from .options import TIMEOUT_MAX, JsonLinesOpt, JsonOpt, NameArg
from .render import console, err_console, print_fields, print_json
from .waiting import wait_for

app = typer.Typer()

NewNameArg = Annotated[str, typer.Argument(metavar="NEW", help="The new VM name.")]


@app.command("reboot")
def reboot(
    ctx: typer.Context,
    name: NameArg,
    force: Annotated[
        bool, typer.Option("--force", help="Reset at once, like pressing reset (virsh reset).")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=1,
            max=TIMEOUT_MAX,
            metavar="SECONDS",
            help="How long the guest may take to shut down.",
        ),
    ] = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Reboot a VM: a clean ACPI shutdown, then a start (virsh reboot)."""
    vm = engine(ctx).reboot_vm(name, force=force, timeout=timeout)
    _print_vm(vm, as_json, f"VM {name} {'reset' if force else 'rebooted'}")


def _print_vm(vm: VmSummary, as_json: bool, sentence: str) -> None:
    """The VM as JSON, or the sentence that says what happened to it."""
    if as_json:
        print_json(vm)
    else:
        console.print(sentence)


@app.command("reset", hidden=True)
def reset(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Reset a VM at once (same as reboot --force)."""
    _print_vm(engine(ctx).reboot_vm(name, force=True), as_json, f"VM {name} reset")


@app.command("pause")
def pause(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Freeze a running VM's vCPUs; its memory stays (virsh suspend)."""
    vm = engine(ctx).pause_vm(name)
    _print_vm(vm, as_json, f"VM {vm.name} is {vm.state}")


app.command("suspend", hidden=True)(pause)


@app.command("resume")
def resume(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Let a paused VM run again (virsh resume)."""
    vm = engine(ctx).resume_vm(name)
    _print_vm(vm, as_json, f"VM {vm.name} is {vm.state}")


@app.command("autostart")
def autostart(
    ctx: typer.Context,
    name: NameArg,
    setting: Annotated[
        str, typer.Argument(metavar="on|off", help="Start the VM when libvirtd starts?")
    ] = "on",
    as_json: JsonOpt = False,
) -> None:
    """Start the VM when libvirtd starts, or not (virsh autostart [--disable])."""
    value = setting.lower()
    if value not in ("on", "off", "yes", "no", "true", "false"):
        raise InvalidInput(f"autostart takes on or off, not {quote(setting)}")
    vm = engine(ctx).set_autostart(name, value in ("on", "yes", "true"))
    _print_vm(vm, as_json, f"VM {vm.name}: autostart {'on' if vm.autostart else 'off'}")


@app.command("rename")
def rename(
    ctx: typer.Context, name: NameArg, new_name: NewNameArg, as_json: JsonOpt = False
) -> None:
    """Rename a VM that is shut off (virsh domrename); its history goes with it."""
    vm = engine(ctx).rename_vm(name, new_name)
    _print_vm(vm, as_json, f"VM {name} is now {vm.name}")


app.command("domrename", hidden=True)(rename)


@app.command("clone")
def clone(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SRC", help="VM to copy (shut off or paused).")],
    new_name: NewNameArg,
    linked: Annotated[
        bool,
        typer.Option(
            "--linked",
            help="New disks are overlays on SRC's (instant; SRC's disks must then never change).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy a VM: new UUID, new MACs, its own disks and serial log (virt-clone)."""
    vm = wait_for(ctx, engine(ctx).submit_clone(source, new_name, linked=linked), VmDetail)
    if as_json:
        print_json(vm)
        return
    console.print(f"Cloned VM {source} to {vm.name} ({vm.state})")
    devices = [
        (f"disk {disk.target}", disk.path or "-") for disk in vm.disks if disk.created_by_virtdeck
    ]
    devices += [(f"NIC {index}", nic.mac or "-") for index, nic in enumerate(vm.nics)]
    print_fields(devices, indent=2)


def _event_line(event: VmEvent) -> str:
    when = event.time.strftime("%Y-%m-%d %H:%M:%S")
    return f"{when}  {event.vm}  {event.event}  {event.detail}"


@app.command("events")
def events(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="Only this VM (default: every VM).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="S",
            min=0,
            max=TIMEOUT_MAX,
            help="Stop after S seconds (default: Ctrl-C).",
        ),
    ] = None,
    as_json: JsonLinesOpt = False,
) -> None:
    """Print libvirt lifecycle events as they happen (virsh event --all --loop)."""
    feed = engine(ctx).events(name, timeout)
    with feed:
        who = f"VM {name}" if name else "every VM"
        err_console.print(f"watching lifecycle events of {who} (Ctrl-C stops)")
        try:
            for event in feed:
                if as_json:
                    print(event.model_dump_json(), flush=True)
                else:
                    print(_event_line(event), flush=True)
        except KeyboardInterrupt:
            pass  # the way to stop watching, not an error


app.command("event", hidden=True)(events)
