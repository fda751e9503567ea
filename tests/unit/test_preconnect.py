"""The connection the console script opens before the CLI has loaded.

``early_uri`` guesses from argv which URI the command will use; the guess is
checked here against the real Typer parser, so the two cannot drift apart.
``preconnect`` hands the early connection to ``Host`` exactly once.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer.main
from tests.errors_cli import cli_text

from virtdeck.cli.entry import early_uri
from virtdeck.cli.main import app
from virtdeck.defaults import DEFAULT_URI, URI_ENV
from virtdeck.errors import HostUnavailable
from virtdeck.host import preconnect
from virtdeck.host.connection import Host

ARGVS = [
    ["vm", "list"],
    ["-c", "test:///default", "vm", "list"],
    ["--connect", "test:///default", "vm", "show", "x"],
    ["--connect=test:///default", "vm", "list", "--json"],
    ["-ctest:///default", "vm", "list"],
    ["--debug", "-c", "test:///default", "--domain-type", "qemu", "vm", "list"],
    ["--domain-type=kvm", "vm", "list"],
    ["host", "check"],
    ["-c", "test:///default", "apply", "-f", "vm.yaml"],
]
NO_CONNECTION = [
    [],
    ["--help"],
    ["-h"],
    ["--version"],
    ["-c", "test:///default"],
    ["-c"],
    ["vm", "list", "--help"],
    ["-c", "test:///default", "vm", "create", "x", "-h"],
    ["--no-such-option", "vm", "list"],
]


def parsed_uri(argv: list[str], env: dict[str, str]) -> str:
    """The --connect value the real parser gives the command, env var included."""
    group = typer.main.get_command(app)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(URI_ENV, raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        ctx = group.make_context("virtdeck", list(argv), resilient_parsing=True)
    return str(ctx.params["connect"] or DEFAULT_URI)


@pytest.fixture(autouse=True)
def nothing_pending() -> Iterator[None]:
    preconnect.take("")  # a test that failed half-way leaves nothing behind
    yield
    preconnect.take("")


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
@pytest.mark.parametrize("env", [{}, {URI_ENV: "test:///env"}], ids=["no-env", "env"])
def test_early_uri_agrees_with_the_parser(argv: list[str], env: dict[str, str]) -> None:
    assert early_uri(argv, env) == parsed_uri(argv, env)


@pytest.mark.parametrize("argv", NO_CONNECTION, ids=lambda a: " ".join(a) or "(none)")
def test_no_early_connection_for_help_version_or_usage_errors(argv: list[str]) -> None:
    assert early_uri(argv, {}) is None


def test_host_adopts_the_early_connection_once() -> None:
    preconnect.start("test:///default")
    host = Host("test:///default")
    try:
        early = host.conn
        assert early.getURI() == "test:///default"
        assert preconnect.take("test:///default") is None
        host._drop()  # a reconnect opens a fresh one
        assert host.conn is not early
    finally:
        host.close()


def test_an_early_connection_for_another_uri_is_closed_not_used() -> None:
    preconnect.start("test:///default")
    assert preconnect.take("test:///other") is None
    assert preconnect.take("test:///default") is None


def test_a_failed_early_open_is_reported_like_any_failed_open() -> None:
    uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
    preconnect.start(uri)
    with pytest.raises(HostUnavailable, match="libvirtd is not running there") as info:
        _ = Host(uri).conn
    assert cli_text(info.value).endswith("or give another libvirt URI (--connect)")
    # The failure was handed over, not kept for a second caller.
    assert preconnect.take(uri) is None


def test_the_cli_loads_without_the_libraries_only_some_commands_need() -> None:
    """Start-up speed: the database, YAML, ISO and highlighting libraries load on use."""
    heavy = ("sqlalchemy", "alembic", "yaml", "pycdlib", "pygments")
    code = f"import sys, virtdeck.cli.main; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
