"""Every command and every option of the CLI is run by some test.

The tests run the CLI through tests/cli_runner.py, which records each
command line; this check runs after every other test of the session (see
tests/conftest.py) and parses those command lines with Click's parser
(tests/cli_coverage.py), so an option counts only where a test really gave
it to the command it belongs to. A command or option no test runs fails
here, named.

What is checked depends on what the session ran:

- the whole suite (tests/unit and tests/integration each in full, as
  ``bash setup.sh test`` and CI run it): every command and option, against
  the command lines of both; and INTEGRATION_ONLY below must be true: each
  entry run by an integration test and by no unit test;
- all of tests/unit but not all of tests/integration (``pytest tests/unit``,
  or a machine where the integration tests skip): every command and option
  against the unit tests' command lines, except those in INTEGRATION_ONLY;
- less than all of tests/unit (``pytest tests/unit/test_x.py
  tests/unit/test_cli_coverage.py``, ``-k``, a skipped unit test): nothing
  can be concluded, so the check skips, saying why; under CI (``CI=true``)
  that is a failure instead, so CI can never pass without the check.

"Ran in full" means every test file of the tree was collected, and none of
its tests was deselected or skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli_coverage import SuiteRun, never_used, surface, usage_of
from tests.cli_runner import RecordedRun, read_record
from tests.conftest import SUITE_RUN, under_ci

# Run by tests/integration only (a real libvirtd, QEMU and the appliance): in a
# tests/unit-only run these are not asked of the unit tests. A whole-suite run
# checks every entry: one a unit test now runs, or one no integration test
# runs, fails there, so the list cannot go stale. Many need a real host
# (files in a real pool, a booted guest, a serial log, hot-plug, which the
# test driver lacks); the --json ones left would be cheap unit tests, and
# each one added there shortens the list.
INTEGRATION_ONLY = (
    "command 'vm shutdown'",
    "command 'vm console'",
    "option --full-copy of 'vm create'",
    "option --hostname of 'vm create'",
    "option --graphics-listen of 'vm create'",
    "option --graphics-password of 'vm create'",
    "option --autostart of 'vm create'",
    "option --keep-disks of 'vm delete'",
    "option --linked of 'vm clone'",
    "option --json of 'vm clone'",
    "option --disk-only of 'vm snapshot create'",
    "option --metadata-only of 'vm snapshot delete'",
    "option --force of 'vm console'",
    "option --diff/--no-diff of 'vm history'",
    "option --uuid of 'vm history'",
    "option --json of 'vm history'",
    "option --version of 'vm restore'",
    "option --uuid of 'vm restore'",
    "option --json of 'vm disk list'",
    "option --size of 'vm disk add'",
    "option --target of 'vm disk add'",
    "option --live of 'vm disk add'",
    "option --config of 'vm disk add'",
    "option --keep-file of 'vm disk remove'",
    "option --live of 'vm disk remove'",
    "option --config of 'vm disk remove'",
    "option --json of 'vm nic list'",
    "option --model of 'vm nic add'",
    "option --live of 'vm nic add'",
    "option --live of 'vm nic remove'",
)


def _argvs(runs: list[RecordedRun], tree: str | None = None) -> list[tuple[str, ...]]:
    return [r.argv for r in runs if tree is None or r.test.startswith(f"tests/{tree}/")]


def test_every_command_and_option_is_run_by_a_test(
    request: pytest.FixtureRequest, cli_argv_log: Path
) -> None:
    run: SuiteRun = request.config.stash[SUITE_RUN]
    collected = {item.nodeid.split("::", 1)[0] for item in request.session.items}
    unit_gap = run.why_partial("unit", collected)
    if unit_gap is not None:
        reason = f"the CLI coverage check needs all of tests/unit to run: {unit_gap}"
        if under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    runs = read_record(cli_argv_log)
    cli = surface()
    whole_suite = run.why_partial("integration", collected) is None
    if whole_suite:
        unused = never_used(cli, usage_of(_argvs(runs)))
        unused += stale_integration_only(runs)
    else:
        unused = never_used(cli, usage_of(_argvs(runs, "unit")), excused=INTEGRATION_ONLY)
    earlier = f" ({run.failed} tests failed before this check)" if run.failed else ""
    scope = "the whole suite" if whole_suite else "tests/unit"
    assert not unused, f"never run by a test in {scope}{earlier}: " + "; ".join(unused)


def stale_integration_only(runs: list[RecordedRun]) -> list[str]:
    """Entries of INTEGRATION_ONLY that are no longer true, each saying what to do."""
    cli = surface()
    by_unit = set(never_used(cli, usage_of(_argvs(runs, "unit"))))
    by_integration = set(never_used(cli, usage_of(_argvs(runs, "integration"))))
    everything = set(never_used(cli, usage_of([])))
    stale = []
    for label in INTEGRATION_ONLY:
        if label not in everything:
            stale.append(f"{label} is in INTEGRATION_ONLY but the CLI has no such thing")
        elif label not in by_unit:
            stale.append(f"{label} is run by a unit test now; remove it from INTEGRATION_ONLY")
        elif label in by_integration:
            stale.append(f"{label} is in INTEGRATION_ONLY but no integration test runs it")
    return stale
