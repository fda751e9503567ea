"""A name is not an identity: history, restore and edit keyed by UUID (test driver).

Hostile cases: a VM deleted and another created under its name, a VM renamed
away from a name and a new one given it, an edit that drops or changes
``<uuid>``, a definition that would take over another VM's name or UUID, and
Ctrl-C in the middle of an operation.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from tests.errors_cli import cli_text
from tests.progress_hook import on_step

from virtdeck.engine import Engine, db
from virtdeck.engine.history import HistoryStore
from virtdeck.engine.schemas import OperationInfo, VmCreate
from virtdeck.errors import Conflict, Hint, Interrupted, InvalidInput, NotFound, VirtdeckError

SERIAL_LOG_DIR = "/var/log/libvirt/qemu"


def domain_xml(name: str, uuid: str | None = None) -> str:
    """A small diskless VM for the test driver; ``uuid`` None leaves <uuid> out."""
    element = f"<uuid>{uuid}</uuid>" if uuid else ""
    log = f"{SERIAL_LOG_DIR}/{name}-serial0.log"
    return (
        f"<domain type='test'><name>{name}</name>{element}"
        "<memory unit='KiB'>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
        f"<devices><serial type='pty'><log file='{log}'/><target port='0'/></serial>"
        "</devices></domain>"
    )


@pytest.fixture
def names(engine: Engine) -> Iterator[list[str]]:
    """Fresh names; every VM carrying one of them is removed afterwards."""
    made: list[str] = []

    def fresh() -> str:
        made.append(f"hid-{uuidlib.uuid4().hex[:6]}")
        return made[-1]

    yield [fresh() for _ in range(3)]
    for name in made:
        try:
            dom = engine.host.conn.lookupByName(name)
        except Exception:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefine()


def _define(engine: Engine, name: str) -> str:
    return str(engine.defs.redefine(domain_xml(name), "create").uuid)


def _two_vms_one_name(engine: Engine, name: str) -> tuple[str, str]:
    """VM A had ``name`` (two versions, then deleted); VM B has it now."""
    first = _define(engine, name)
    engine.set_max_cpus(name, 2)
    engine.delete_vm(name)
    second = _define(engine, name)
    return first, second


# -- history: every VM that had the name --------------------------------------


def test_history_lists_every_vm_that_had_the_name_current_first(
    engine: Engine, names: list[str]
) -> None:
    name = names[0]
    first, second = _two_vms_one_name(engine, name)
    listed = engine.vm_histories(name)
    assert [vm.uuid for vm in listed] == [second, first]
    now, gone = listed
    assert (now.current, now.exists, now.current_name, now.deleted_at) == (True, True, name, None)
    assert [v.action for v in now.versions] == ["create"]
    assert (gone.current, gone.exists, gone.current_name) == (False, False, None)
    assert [v.action for v in gone.versions] == ["create", "set-max-cpus", "delete"]
    assert [v.version for v in gone.versions] == [1, 2, 3]  # numbered per UUID
    assert gone.deleted_at == gone.versions[-1].created_at
    assert gone.first_seen == gone.versions[0].created_at <= gone.last_seen == gone.deleted_at
    assert gone.last_seen <= now.first_seen <= now.last_seen
    assert {v.uuid for v in gone.versions} == {first}
    # The first VM's versions are reachable again, by UUID or a prefix of it.
    assert [v.action for v in engine.vm_history(name, uuid=first[:8])][-1] == "delete"
    assert f"<uuid>{first}</uuid>" in engine.vm_history_xml(name, 2, uuid=first.upper())
    assert [vm.uuid for vm in engine.vm_histories(name, uuid=first[:13])] == [first]
    # Without --uuid, one VM's history means the one that has the name now.
    assert [v.action for v in engine.vm_history(name)] == ["create"]


def test_show_of_a_version_with_several_vms_is_ambiguous_unless_uuid(
    engine: Engine, names: list[str]
) -> None:
    name = names[0]
    first, second = _two_vms_one_name(engine, name)
    with pytest.raises(InvalidInput, match="ambiguous") as ambiguous:
        engine.vm_history_xml(name, 1)
    assert first in ambiguous.value.message and second in ambiguous.value.message
    assert "--uuid" in cli_text(ambiguous.value)
    assert ambiguous.value.field == "uuid"
    assert f"<uuid>{second}</uuid>" in engine.vm_history_xml(name, 1, uuid=second)


@pytest.mark.parametrize(
    ("given", "error", "words"),
    [
        ("1234567", InvalidInput, "at least 8 hex digits"),
        ("not-a-uuid", InvalidInput, "is not a UUID"),
        ("ffffffff", NotFound, "no VM with UUID ffffffff has had the name"),
    ],
)
def test_uuid_must_be_a_uuid_or_a_long_enough_prefix(
    engine: Engine, names: list[str], given: str, error: type[VirtdeckError], words: str
) -> None:
    _two_vms_one_name(engine, names[0])
    with pytest.raises(error, match=words) as refused:
        engine.vm_histories(names[0], uuid=given)
    assert refused.value.field == "uuid"


# -- restore ------------------------------------------------------------------


def test_restore_with_several_defaults_to_the_vm_that_exists(
    engine: Engine, names: list[str]
) -> None:
    name = names[0]
    first, second = _two_vms_one_name(engine, name)
    engine.set_max_cpus(name, 3)
    result = engine.vm_restore(name)
    assert (result.uuid, result.version, result.was_deleted) == (second, 1, False)
    assert engine.defs.lookup(name).uuid == second
    assert engine.get_vm(name).max_vcpus == 1
    assert [v.action for v in engine.vm_history(name, uuid=first)][-1] == "delete"


def test_restore_with_several_and_none_existing_refuses_and_says_how_to_pick(
    engine: Engine, names: list[str]
) -> None:
    name = names[0]
    first, second = _two_vms_one_name(engine, name)
    engine.delete_vm(name)
    with pytest.raises(InvalidInput) as refused:
        engine.vm_restore(name)
    message = refused.value.message
    for vm in engine.vm_histories(name):
        assert vm.deleted_at is not None
        assert f"{vm.uuid} (deleted {vm.deleted_at:%Y-%m-%d %H:%M:%S})" in message
    assert f"'virtdeck vm restore {name} --uuid {second}'" in cli_text(refused.value)
    assert refused.value.hint == Hint("vm.restore", vm=name, args={"uuid": second})
    assert "\n" not in message
    assert not [d for d in engine.host.conn.listAllDomains(0) if d.name() == name]

    result = engine.vm_restore(name, uuid=first[:8])
    assert (result.name, result.uuid, result.was_deleted, result.version) == (name, first, True, 3)
    assert engine.defs.lookup(name).uuid == first
    assert engine.get_vm(name).max_vcpus == 2  # as it was when it was deleted


def test_restore_of_a_deleted_vm_refuses_while_another_has_the_name(
    engine: Engine, names: list[str]
) -> None:
    name = names[0]
    first, second = _two_vms_one_name(engine, name)
    before = len(engine.vm_history(name, uuid=second))
    with pytest.raises(Conflict) as refused:
        engine.vm_restore(name, uuid=first)
    assert f"VM {name} (UUID {second}) has the name now" in refused.value.message
    assert engine.defs.lookup(name).uuid == second
    assert len(engine.vm_history(name, uuid=second)) == before


# -- rename -------------------------------------------------------------------


def test_a_renamed_vm_keeps_its_history_and_is_listed_under_both_names(
    engine: Engine, names: list[str]
) -> None:
    old, new = names[0], names[1]
    renamed = _define(engine, old)
    engine.set_max_cpus(old, 2)
    engine.rename_vm(old, new)
    entries = engine.vm_history(new)
    # The rename, then its serial log following the name: two versions.
    assert [(e.name, e.action) for e in entries] == [
        (old, "create"),
        (old, "set-max-cpus"),
        (new, "rename"),
        (new, "rename"),
    ]
    # A new VM gets the old name: both are listed under it, the new one first.
    newcomer = _define(engine, old)
    listed = engine.vm_histories(old)
    assert [vm.uuid for vm in listed] == [newcomer, renamed]
    assert (listed[1].exists, listed[1].current, listed[1].current_name) == (True, False, new)
    assert listed[1].last_seen == entries[2].created_at  # when it was renamed away
    assert [v.uuid for v in engine.vm_histories(new)] == [renamed]


def test_restoring_a_version_from_before_a_rename_keeps_the_vm_and_its_name(
    engine: Engine, names: list[str]
) -> None:
    old, new = names[0], names[1]
    renamed = _define(engine, old)
    engine.rename_vm(old, new)
    newcomer = _define(engine, old)
    # The version before the rename names the VM 'old', which another VM has now.
    result = engine.vm_restore(new, version=1)
    assert (result.name, result.uuid) == (new, renamed)
    assert result.notes and f"named it {old}; it keeps its name {new}" in result.notes[0]
    assert engine.defs.lookup(new).uuid == renamed
    assert engine.defs.lookup(old).uuid == newcomer
    assert f"{new}-serial0.log" in engine.vm_xml(new, inactive=True)
    # Through the old name, with the UUID picked, the same.
    assert engine.vm_restore(old, uuid=renamed, version=1).name == new


# -- edit and every definition handed to libvirt ------------------------------


def test_an_edit_that_drops_the_uuid_is_refused_and_changes_nothing(
    engine: Engine, names: list[str]
) -> None:
    name = names[0]
    uuid = _define(engine, name)
    session = engine.edit_begin(name)
    versions = len(engine.vm_history(name))
    dropped = re.sub(r"\s*<uuid>[^<]*</uuid>", "", session.xml)
    assert "<uuid>" not in dropped
    with pytest.raises(InvalidInput) as refused:
        engine.edit_apply(session, dropped.replace("<vcpu placement='static'>1", "<vcpu>2"))
    assert refused.value.message.startswith("the edit removes <uuid>")
    assert "\n" not in refused.value.message and uuid in refused.value.message
    with pytest.raises(InvalidInput, match="the edit changes the UUID to"):
        engine.edit_apply(session, session.xml.replace(uuid, str(uuidlib.uuid4())))
    with pytest.raises(InvalidInput) as nameless:
        engine.edit_apply(session, session.xml.replace(f"<name>{name}</name>", ""))
    assert re.search(r"the edit removes <name>.*vm rename", cli_text(nameless.value))
    assert nameless.value.hint is not None and nameless.value.hint.action == "vm.rename"
    assert engine.defs.inactive_xml(engine.defs.lookup(name)) == session.xml
    assert len(engine.vm_history(name)) == versions
    # The same UUID in capitals is the same UUID.
    assert not engine.edit_apply(session, session.xml.replace(uuid, uuid.upper())).changed


def test_a_definition_never_takes_over_another_vms_name_or_uuid(
    engine: Engine, names: list[str]
) -> None:
    name, other, third = names
    mine = _define(engine, name)
    theirs = _define(engine, other)
    with pytest.raises(InvalidInput, match=f"has no <uuid>.*<uuid>{mine}</uuid>"):
        engine.defs.redefine(domain_xml(name), "apply")
    with pytest.raises(Conflict, match=f"VM {name} exists with UUID {mine}"):
        engine.defs.redefine(domain_xml(name, str(uuidlib.uuid4())), "restore-v1")
    with pytest.raises(Conflict) as renaming:
        engine.defs.redefine(domain_xml(third, theirs), "restore-v1")
    assert re.search(
        f"is VM {other}'s.*'virtdeck vm rename {other} {third}'", cli_text(renaming.value)
    )
    assert renaming.value.hint == Hint("vm.rename", vm=other, args={"new_name": third})
    with pytest.raises(InvalidInput, match="is not a UUID"):
        engine.defs.redefine(domain_xml(third, "12345"), "create")
    assert engine.defs.lookup(name).uuid == mine
    assert engine.defs.lookup(other).uuid == theirs
    assert third not in [d.name() for d in engine.host.conn.listAllDomains(0)]


# -- the schema -----------------------------------------------------------------


def test_migration_0003_indexes_history_by_name_and_matches_the_models(tmp_path: Path) -> None:
    # A database made before 0003, with history in it, upgrades in place.
    url = db.database_url(tmp_path)
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0002")
    # Written as 0002 wrote it (today's model names the host by id, since 0004).
    with db.open_database(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO domain_versions (host_uri, domain_uuid, domain_name, version, "
                "action, xml, xml_sha256, deleted, created_at) VALUES ('test:///x', 'u-1', 'a', "
                "1, 'create', '<domain/>', '', 0, '2026-01-01 00:00:00')"
            )
        )
    database = db.open_migrated(tmp_path)
    with database.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.schema()) == []
        plan = conn.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT domain_uuid, max(id) FROM domain_versions "
                "WHERE host_id = 'h' AND domain_name = 'n' GROUP BY domain_uuid"
            )
        ).all()
    assert "COVERING INDEX ix_domain_versions_host_name_uuid" in str(plan)
    # test:///x, the first local URI this database met, is host 'local'.
    assert HistoryStore(database).uuids_named("local", "a") == ["u-1"]


# -- Ctrl-C inside operation() ------------------------------------------------


def _ctrl_c(action: Callable[[], object]) -> Interrupted:
    """The error ``action`` ends in; a bare KeyboardInterrupt fails the test, not the run."""
    try:
        action()
    except Interrupted as exc:
        return exc
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C left operation() as a bare KeyboardInterrupt: the user is told nothing")
    pytest.fail("the Ctrl-C was swallowed")


def test_ctrl_c_in_an_operation_says_what_it_removed_and_kept(
    engine: Engine, names: list[str], tmp_path: Path
) -> None:
    name = names[0]
    copied = tmp_path / "half-copied.qcow2"  # removed by the step that failed
    leftover = tmp_path / "leftover.qcow2"  # the test driver cannot delete files
    leftover.write_bytes(b"")
    uuid = str(uuidlib.uuid4())

    def create() -> None:
        with engine.ops.operation("create", name, "copying") as run:
            copied.write_bytes(b"")
            run.made_file(copied)
            run.made_file(leftover)
            run.made_domain(uuid)
            engine.defs.redefine(domain_xml(name, uuid), "create")
            copied.unlink()
            raise KeyboardInterrupt

    error = _ctrl_c(create)
    assert isinstance(error.__cause__, KeyboardInterrupt)
    assert (error.exit_code, error.code) == (130, "interrupted")
    assert error.message.startswith(
        f"stopped with Ctrl-C; removed the definition of VM {name}, {copied}; kept {leftover} ("
    )
    assert name not in [d.name() for d in engine.host.conn.listAllDomains(0)]
    assert leftover.exists()
    [op] = engine.list_operations(1)
    assert (op.state, op.error, op.pending) == ("interrupted", error.message, [])
    # Kept in the history, as any delete.
    assert [v.action for v in engine.vm_history(name)] == ["create", "delete"]


def test_ctrl_c_before_anything_was_made_says_so(engine: Engine, names: list[str]) -> None:
    def snapshot() -> None:
        with engine.ops.operation("snapshot", names[0], "taking a snapshot"):
            raise KeyboardInterrupt

    assert _ctrl_c(snapshot).message == "stopped with Ctrl-C; nothing had been made yet"
    assert engine.list_operations(1)[0].state == "interrupted"
    # Other failures still surface as themselves.
    with (
        pytest.raises(RuntimeError, match="lost power"),
        engine.ops.operation("snapshot", names[0], "taking a snapshot"),
    ):
        raise RuntimeError("lost power")
    assert engine.list_operations(1)[0].state == "failed"


def test_ctrl_c_during_vm_create_removes_the_definition(
    engine: Engine, disk: Path, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = names[0]

    def ctrl_c(op: OperationInfo) -> None:
        if op.step == "starting the VM":
            raise KeyboardInterrupt

    on_step(engine, monkeypatch, ctrl_c)
    request = VmCreate(name=name, import_disk=str(disk), networks=[], graphics="none", start=True)
    error = _ctrl_c(lambda: engine.create_vm(request))
    assert error.message == f"stopped with Ctrl-C; removed the definition of VM {name}"
    assert name not in [v.name for v in engine.list_vms()]
    assert disk.exists()  # an imported disk is never the create's to remove


def test_a_second_ctrl_c_during_the_clean_up_leaves_it_to_recovery(
    engine: Engine, names: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = tmp_path / "made.qcow2"
    made.write_bytes(b"")

    def ctrl_c_again(_resources: object) -> tuple[list[str], list[str]]:
        raise KeyboardInterrupt

    def create() -> None:
        with engine.ops.operation("create", names[0], "copying") as run:
            run.made_file(made)
            monkeypatch.setattr(engine.ops, "_remove_unowned", ctrl_c_again)
            raise KeyboardInterrupt

    message = _ctrl_c(create).message
    assert message == (
        "stopped with Ctrl-C, and again while removing what it had made; "
        f"the next virtdeck command removes what is left of file {made}"
    )
    # Still 'running' with what it made listed: once this process has ended,
    # recovery finds it like any operation whose process died.
    [op] = engine.list_operations(1)
    assert (op.state, op.pending) == ("running", [f"file {made}"])
