"""host/ words its errors for every front end: the next step as a Hint, fields with opt().

On libvirt's test driver: what the CLI makes of each (its command, its
option), and what an API client gets (the field, the hint as data).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.errors_cli import cli_text
from tests.unit.test_snapshots_engine import domain_xml

from virtdeck.engine import Engine
from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Timeout
from virtdeck.host import domains


@pytest.fixture
def vm(engine: Engine) -> Iterator[str]:
    """A running VM of this test's own on the (process-wide) test driver."""
    name = f"hinted-{uuid.uuid4().hex[:6]}"
    handle = engine.defs.redefine(domain_xml(name), "create")
    handle.start()
    yield name
    handle.undefine()


def test_starting_a_running_vm_points_at_stop(engine: Engine, vm: str) -> None:
    with pytest.raises(Conflict) as info:
        domains.start(engine.host, vm)
    assert info.value.hint == Hint("vm.stop", vm=vm)
    assert info.value.message == f"VM {vm} is already running; stop it first to start it afresh"
    assert cli_text(info.value).endswith(
        f"stop it first to start it afresh ('virtdeck vm stop {vm}')"
    )


def test_a_shutdown_that_times_out_points_at_force(engine: Engine, vm: str) -> None:
    # No time at all to wait: the guest is never seen to go down within it.
    with pytest.raises(Timeout) as info:
        domains.stop(engine.host, vm, timeout=0, force=False)
    assert info.value.hint == Hint("vm.stop.force", vm=vm)
    assert info.value.fields == ["force"]
    assert cli_text(info.value).endswith(
        f"give --force to power it off ('virtdeck vm stop {vm} --force')"
    )


def test_an_unknown_vm_points_at_the_list_unless_a_name_is_close(engine: Engine) -> None:
    with pytest.raises(NotFound) as far:
        domains.lookup(engine.host, "zzzzzzzzzz")
    assert far.value.hint == Hint("vm.list")
    assert cli_text(far.value).endswith("the list of VMs shows them ('virtdeck vm list')")
    with pytest.raises(NotFound, match="did you mean test") as close:
        domains.lookup(engine.host, "tset")
    assert close.value.hint is None


def test_a_name_no_vm_can_have_names_its_field(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as plain:
        domains.checked_name("a/b")
    assert plain.value.field == "name"
    with pytest.raises(InvalidInput) as renamed:
        domains.checked_name("a/b", field="new_name")
    assert renamed.value.field == "new_name"
    assert plain.value.message == renamed.value.message
