"""The layers hold: what imports what, the one interface, reading that never writes.

docs/architecture.md draws the layers; these tests fail when the code stops
matching it.
"""

from __future__ import annotations

import ast
import inspect
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from virtdeck.client import HttpEngine
from virtdeck.engine import Engine, EngineApi
from virtdeck.engine.api import ServerSide
from virtdeck.engine.history import DomainVersion
from virtdeck.engine.operations import OperationRow
from virtdeck.host.handle import DomainHandle

SRC = Path(__file__).resolve().parents[2] / "src" / "virtdeck"


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            elif node.module:
                yield node.module


def _modules(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py")) if layer else sorted(SRC.glob("*.py"))


def test_only_host_imports_libvirt() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "host"
        and any(name == "libvirt" or name.startswith("libvirt.") for name in _imports(path))
    ]
    assert offenders == [], f"libvirt imported outside host/: {offenders}"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("model", ("virtdeck.host", "virtdeck.engine", "virtdeck.cli", "virtdeck.settings")),
        ("host", ("virtdeck.engine", "virtdeck.cli")),
        ("engine", ("virtdeck.cli", "virtdeck.api", "virtdeck.client")),
        # The API translates HTTP to the engine: it reaches libvirt only through it.
        ("api", ("virtdeck.host", "virtdeck.cli", "virtdeck.client")),
        # The client is the interface over HTTP: the engine's schemas, never its works.
        (
            "client",
            (
                "virtdeck.host",
                "virtdeck.cli",
                "virtdeck.api",
                "virtdeck.engine.engine",
                "virtdeck.engine.services",
                "virtdeck.engine.context",
            ),
        ),
        # The CLI starts the server (api.serve) but never calls its routes.
        ("cli", ("virtdeck.api.app", "virtdeck.api.routers")),
    ],
)
def test_arrows_point_down(layer: str, forbidden: tuple[str, ...]) -> None:
    found = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in _modules(layer)
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert found == []


def test_the_model_imports_nothing_of_ours_but_itself() -> None:
    found = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in _modules("model")
        for name in _imports(path)
        if name.startswith("virtdeck.") and not name.startswith("virtdeck.model")
    ]
    assert found == []


def _api_methods() -> list[str]:
    return sorted(
        name
        for name, value in vars(EngineApi).items()
        if not name.startswith("_") and callable(value)
    )


def test_engine_implements_the_interface_with_the_same_signatures() -> None:
    for name in _api_methods():
        wanted = inspect.signature(getattr(EngineApi, name))
        have = inspect.signature(getattr(Engine, name))
        assert str(have) == str(wanted), f"Engine.{name}{have} differs from EngineApi{wanted}"
    # Nothing public on the facade that the interface lacks: a front end
    # that uses Engine directly must not reach past the interface.
    # Beside it, only what the API server asks of the engine (ServerSide).
    server_side = {
        name
        for name, value in vars(ServerSide).items()
        if not name.startswith("_") and callable(value)
    }
    extra = {
        name
        for name, value in vars(Engine).items()
        if not name.startswith("_") and callable(value) and name not in _api_methods()
    }
    assert extra == server_side
    for name in server_side:
        wanted = inspect.signature(getattr(ServerSide, name))
        assert str(inspect.signature(getattr(Engine, name))) == str(wanted), name


def test_the_http_client_implements_the_interface_with_the_same_signatures() -> None:
    for name in _api_methods():
        wanted = inspect.signature(getattr(EngineApi, name))
        have = inspect.signature(getattr(HttpEngine, name))
        assert str(have) == str(wanted), f"HttpEngine.{name}{have} differs from EngineApi{wanted}"
    extra = {
        name
        for name, value in vars(HttpEngine).items()
        if not name.startswith("_") and callable(value) and name not in _api_methods()
    }
    assert extra == set()


def test_no_any_in_the_interface() -> None:
    for name in _api_methods():
        hints = typing.get_type_hints(getattr(EngineApi, name))
        for key, hint in hints.items():
            assert "Any" not in repr(hint), f"EngineApi.{name} {key}: {hint!r}"


def _define(engine: Engine, name: str) -> DomainHandle:
    xml = (
        f"<domain type='test'><name>{name}</name><uuid>{uuid.uuid4()}</uuid>"
        "<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
    return engine.defs.redefine(xml, "create")


def _rows(engine: Engine) -> tuple[int, int]:
    with Session(engine.ctx.database()) as session:
        versions = session.scalar(select(func.count()).select_from(DomainVersion))
        operations = session.scalar(select(func.count()).select_from(OperationRow))
    return int(versions or 0), int(operations or 0)


def test_reading_never_writes_and_the_next_change_keeps_an_outside_edit(engine: Engine) -> None:
    name = f"arch-{uuid.uuid4().hex[:6]}"
    handle = _define(engine, name)
    try:
        # Changed behind virtdeck's back, as 'virsh edit' would.
        outside = handle.xml(inactive=True).replace(
            "<vcpu", "<description>outside</description><vcpu"
        )
        engine.host.conn.defineXML(outside)
        before = _rows(engine)
        engine.get_vm(name)
        engine.vm_spec(name)
        engine.list_vms()
        engine.list_disks(name)
        engine.list_nics(name)
        engine.edit_begin(name)
        history = engine.vm_history(name)
        assert _rows(engine) == before, "a plain read recorded something"
        # The history shows the outside edit as the version it will be kept as ...
        assert [h.action for h in history] == ["create", "external"]
        # ... and the next change keeps it under that number before its own.
        engine.set_cpus(name, 1, config=True)
        engine.set_max_cpus(name, 2)
        assert [h.action for h in engine.vm_history(name)] == ["create", "external", "set-max-cpus"]
        assert "outside" in engine.vm_history_xml(name, 2)
    finally:
        handle.undefine()


def test_a_domain_handle_looks_the_vm_up_again_after_a_reconnect(engine: Engine) -> None:
    name = f"arch-{uuid.uuid4().hex[:6]}"
    handle = _define(engine, name)
    # test:///default keeps its VMs while any connection to it is open.
    import libvirt  # noqa: PLC0415 - a test may use libvirt directly

    anchor = libvirt.open("test:///default")
    try:
        handle.state()  # caches the virDomain of this connection
        engine.host.close()  # the connection is gone, as after a libvirtd restart
        assert handle.state() == "shut off"
        handle.start()
        assert handle.is_active()
    finally:
        handle.undefine()
        anchor.close()
