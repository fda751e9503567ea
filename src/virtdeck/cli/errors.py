"""An engine error in the CLI's words: its options for fields, its commands for hints.

The engine names a request field (``max_memory_bytes``) and a next step
(``Hint("vm.stop", vm="web1")``); this module is where they become
``--max-memory`` and ``'virtdeck vm stop web1'``. A field whose option is
the field's name with dashes needs no entry.
"""

from __future__ import annotations

from virtdeck.errors import Hint, HintAction, VirtdeckError

# Request fields whose CLI option is not simply --field-name.
FIELD_OPTIONS: dict[str, str] = {
    "memory_bytes": "--memory",
    "max_memory_bytes": "--max-memory",
    "disk_size_bytes": "--disk-size",
    "size_bytes": "--size",
    "ssh_keys": "--ssh-key",
    "uri": "--connect",
}

# What each hint is as a command line; {vm} and the hint's args fill it in.
HINT_COMMANDS: dict[HintAction, str] = {
    "vm.start": "virtdeck vm start {vm}",
    "vm.stop": "virtdeck vm stop {vm}",
    "vm.stop.force": "virtdeck vm stop {vm} --force",
    "vm.resume": "virtdeck vm resume {vm}",
    "vm.pause": "virtdeck vm pause {vm}",
    "vm.reboot.force": "virtdeck vm reboot {vm} --force",
    "vm.delete.force": "virtdeck vm delete {vm} --force",
    "vm.rename": "virtdeck vm rename {vm} {new_name}",
    "vm.list": "virtdeck vm list",
    "vm.show": "virtdeck vm show {vm}",
    "vm.log": "virtdeck vm log {vm}",
    "vm.edit": "virtdeck vm edit {vm}",
    "vm.console": "virtdeck vm console {vm}",
    "vm.console.force": "virtdeck vm console {vm} --force",
    "vm.vnc": "virtdeck vm vnc {vm}",
    "vm.set-cpus.config": "virtdeck vm set-cpus {vm} {count} --config",
    "vm.set-max-cpus": "virtdeck vm set-max-cpus {vm} {count}",
    "vm.set-max-memory": "virtdeck vm set-max-memory {vm} {size}",
    "vm.snapshot.create": "virtdeck vm snapshot create {vm}",
    "vm.snapshot.delete": "virtdeck vm snapshot delete {vm} {snapshot}",
    "vm.disk.list": "virtdeck vm disk list {vm}",
    "vm.nic.list": "virtdeck vm nic list {vm}",
    "vm.history": "virtdeck vm history {vm}",
    "vm.restore": "virtdeck vm restore {vm} --uuid {uuid}",
    "operation.list": "virtdeck operation list",
    "host.check": "virtdeck host check",
    "retry": "",
}


def option_of(field: str) -> str:
    return FIELD_OPTIONS.get(field, "--" + field.replace("_", "-"))


def hint_command(hint: Hint) -> str:
    """The command line that carries out ``hint``; '' when it has none (retry)."""
    values = {"vm": hint.vm or "NAME", **hint.args}
    return HINT_COMMANDS[hint.action].format(**values)


def cli_message(exc: VirtdeckError) -> str:
    """What the CLI prints after 'error:': fields as options, the hint as a command."""
    text = exc.render(option_of)
    if exc.hint is not None:
        command = hint_command(exc.hint)
        if command:
            text += f" ('{command}')"
    return text
