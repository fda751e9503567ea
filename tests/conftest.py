"""Shared test set-up: markers, the switch that turns skips into failures, the CLI record.

Integration tests need root, a running libvirtd and the built appliance. On a
developer's machine without those they skip, saying why; under
``bash setup.sh test`` (and so in CI) VIRTDECK_REQUIRE_INTEGRATION=1 makes a
missing prerequisite a failure, so CI can never pass by skipping.

Every command line a test gives the CLI (tests/cli_runner.py) is recorded in
the session's temporary directory; the CLI coverage check
(tests/unit/test_cli_coverage.py) runs after every other test and reads it,
with what this file notes about the session: which tests were deselected,
skipped or failed.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.cli_coverage import SuiteRun
from tests.cli_runner import ARGV_LOG_ENV

TESTS_DIR = Path(__file__).resolve().parent
SUITE_RUN = pytest.StashKey[SuiteRun]()
# The node ids of the check that must see every other test's command lines.
COVERAGE_CHECK = "tests/unit/test_cli_coverage.py::"


def under_ci() -> bool:
    """CI services set CI=true (.ci/run does too): there nothing may be left to chance."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/unit/golden/ from the current output",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SUITE_RUN] = SuiteRun(tests_dir=TESTS_DIR)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        if "/hostile/" in str(item.fspath):
            item.add_marker(pytest.mark.hostile)
    # The coverage check goes last: it judges the command lines all the others ran.
    items.sort(key=lambda item: item.nodeid.startswith(COVERAGE_CHECK))


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    run = items[0].config.stash[SUITE_RUN]
    for item in items:
        tree = run.tree_of(item.nodeid)
        if tree is not None:
            run.deselected.add(tree)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    run = item.config.stash[SUITE_RUN]
    tree = run.tree_of(item.nodeid)
    if report.skipped and not hasattr(report, "wasxfail") and tree is not None:
        run.skipped.add(tree)
    if report.failed:
        run.failed += 1
    return report


@pytest.fixture(scope="session", autouse=True)
def cli_argv_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The file tests/cli_runner.py records command lines in, fresh for each session."""
    path = tmp_path_factory.getbasetemp() / "cli-argv.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ARGV_LOG_ENV, str(path))
        yield path


def require_or_skip(reason: str) -> None:
    """Skip with ``reason``, or fail when integration tests are required."""
    if os.environ.get("VIRTDECK_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"integration prerequisite missing: {reason}")
    pytest.skip(reason)


# The database_url fixture: SQLite and PostgreSQL (tests/db_urls.py).
pytest_plugins = ["tests.db_urls"]
