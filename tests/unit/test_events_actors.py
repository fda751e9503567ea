"""Events with who caused them, and operation progress as events, on libvirt's test driver.

A change made through the engine for an actor comes back as an event with
that actor; the same change made with libvirt directly (as virsh does, on a
connection of its own) comes back with none. A create's steps arrive on the
same stream as events of kind ``operation``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from tests.unit.test_operations import create_request
from tests.unit.test_snapshots_engine import domain_xml

from virtdeck.engine import Engine
from virtdeck.engine.actors import ActionLog, Actor, acting_as, actor, local_actor
from virtdeck.engine.pubsub import Bus, DropOldest
from virtdeck.engine.schemas import VmEvent

ALICE = Actor(user="alice", via="api", client="192.0.2.7")


@pytest.fixture
def other_conn() -> Iterator[libvirt.virConnect]:
    """A connection of its own, as virsh would open."""
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


@pytest.fixture
def vm(engine: Engine, other_conn: libvirt.virConnect) -> Iterator[str]:
    """A running VM defined with libvirt directly, removed afterwards."""
    name = f"evunit-{uuid.uuid4().hex[:6]}"
    other_conn.defineXML(domain_xml(name)).create()
    yield name
    for made in (name, f"{name}-new"):
        try:
            dom = other_conn.lookupByName(made)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


def first(feed: Iterator[VmEvent], kind: str) -> VmEvent:
    for event in feed:
        if event.event == kind:
            return event
    raise AssertionError(f"no {kind} event")


def test_an_engine_action_carries_its_actor(engine: Engine, vm: str) -> None:
    uuid_of = engine.host.conn.lookupByName(vm).UUIDString()
    with engine.events(vm, timeout=5) as feed:
        with acting_as(ALICE):
            assert actor() == ALICE
            engine.pause_vm(vm)
        assert actor() == local_actor()
        engine.resume_vm(vm)  # the local command line's user
        paused = first(iter(feed), "paused")
        resumed = first(iter(feed), "resumed")
    assert (paused.actor, paused.uuid, paused.operation_id) == ("alice", uuid_of, None)
    assert resumed.actor == local_actor().user


def test_a_change_made_with_libvirt_directly_has_no_actor(
    engine: Engine, vm: str, other_conn: libvirt.virConnect
) -> None:
    with engine.events(vm, timeout=5) as feed:
        # The engine did this VM a moment ago, for alice: a stop is not what a pause causes.
        with acting_as(ALICE):
            engine.pause_vm(vm)
        assert first(iter(feed), "paused").actor == "alice"
        began = time.monotonic()
        other_conn.lookupByName(vm).destroy()
        stopped = first(iter(feed), "stopped")
        took = time.monotonic() - began
    assert (stopped.detail, stopped.actor, stopped.operation_id) == ("destroyed", None, None)
    assert took < 1.0


def test_a_rename_is_found_by_uuid_under_the_new_name(engine: Engine, vm: str) -> None:
    engine.stop_vm(vm, force=True)
    with engine.events(timeout=5) as feed, acting_as(ALICE):
        engine.rename_vm(vm, f"{vm}-new")
        seen = [e for e in feed if e.vm in (vm, f"{vm}-new")][:2]
    assert seen and all(e.actor == "alice" for e in seen), seen


def test_operation_updates_arrive_with_the_lifecycle_events(engine: Engine, disk: Path) -> None:
    name = f"evop-{uuid.uuid4().hex[:6]}"
    try:
        with engine.events(timeout=5, include_operations=True) as feed:
            with acting_as(Actor(user="bob", via="api")):
                made = engine.create_vm(create_request(name, disk, start=True))
            seen: list[VmEvent] = []
            for event in feed:
                if event.vm == name:
                    seen.append(event)
                if event.operation is not None and event.operation.state != "running":
                    break
    finally:
        engine.delete_vm(name, keep_disks=True, force=True)
    updates = [e for e in seen if e.event == "operation"]
    [op_id] = {e.operation_id for e in updates}
    assert [e.operation.state for e in updates if e.operation] == ["running"] * (
        len(updates) - 1
    ) + ["succeeded"]
    steps = [e.operation.step for e in updates if e.operation]
    assert steps[0] == "checking the host's limits" and steps[-1] == "done"
    assert "defining the VM" in steps and "starting the VM" in steps
    assert all(e.actor == "bob" for e in updates)
    assert updates[-1].detail == "create succeeded: done (100%)"
    lifecycle = [e for e in seen if e.event != "operation"]
    assert [e.event for e in lifecycle] == ["defined", "started"]
    assert all((e.actor, e.operation_id, e.uuid) == ("bob", op_id, made.uuid) for e in lifecycle)


def test_operation_updates_only_when_asked_and_only_of_the_vm(
    engine: Engine, disk: Path, vm: str
) -> None:
    name = f"evop-{uuid.uuid4().hex[:6]}"
    try:
        with (
            engine.events(timeout=1) as plain,
            engine.events(vm, timeout=1, include_operations=True) as other_vm,
        ):
            engine.create_vm(create_request(name, disk))
            assert [e.event for e in plain if e.vm == name] == ["defined"]
            assert list(other_vm) == []
    finally:
        engine.delete_vm(name, keep_disks=True, force=True)


def test_notes_expire_and_match_only_what_the_action_causes() -> None:
    log = ActionLog(grace=0.2)
    with acting_as(ALICE), log.acting("test:///default", "pause", uuid="u1", name="web"):
        now = time.time()
        assert log.match("test:///default", "u1", None, "paused", now) is not None
        assert log.match("test:///default", None, "web", "paused", now) is not None
        assert log.match("test:///default", "u1", None, "stopped", now) is None
        assert log.match("qemu:///system", "u1", None, "paused", now) is None
        assert log.match("test:///default", "u2", "db", "paused", now) is None
    ended = time.time()
    hit = log.match("test:///default", "u1", None, "paused", ended + 0.1)
    assert hit is not None and (hit.actor, hit.action) == (ALICE, "pause")
    assert log.match("test:///default", "u1", None, "paused", ended + 0.5) is None
    assert log.match("test:///default", "u1", None, "paused", now - 10) is None
    time.sleep(0.3)
    with log.acting("test:///default", "start", uuid="u3"):
        assert len(log) == 1  # the old note went when this one came


def test_notes_in_an_operation_get_its_id() -> None:
    log = ActionLog()
    with log.acting("test:///default", "create", name="web"):
        token = log.attach_operation(42)
        with log.acting("test:///default", "start", name="web"):
            pass
    hits = [log.match("test:///default", None, "web", kind, time.time()) for kind in ("defined",)]
    assert [h.operation_id for h in hits if h] == [42]
    assert log.operation_actor(42) == local_actor()
    from virtdeck.engine.actors import current_operation  # noqa: PLC0415

    current_operation.reset(token)
    assert current_operation.get() is None


def test_a_full_queue_drops_its_oldest() -> None:
    queue: DropOldest[int] = DropOldest(limit=3)
    bus: Bus[int] = Bus()
    unsubscribe = bus.subscribe(queue.put)
    for i in range(5):
        bus.publish(i)
    unsubscribe()
    bus.publish(99)
    assert not bus.has_subscribers
    assert [queue.get(0.01) for _ in range(4)] == [2, 3, 4, None]
    assert queue.dropped == 2


def test_several_streams_at_once_each_get_every_event(engine: Engine, vm: str) -> None:
    # libvirt takes one callback per event and connection; the streams share it.
    with engine.events(vm, timeout=5) as one, engine.events(timeout=5) as two:
        with engine.events(vm, timeout=5):
            pass  # one that closes early leaves the others working
        engine.pause_vm(vm)
        assert first(iter(one), "paused").vm == vm
        assert first((e for e in two if e.vm == vm), "paused").vm == vm
    with engine.events(vm, timeout=5) as again:  # and all closed, a new one registers anew
        engine.resume_vm(vm)
        assert first(iter(again), "resumed").vm == vm
