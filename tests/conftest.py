"""Shared test set-up: markers and the switch that turns skips into failures.

Integration tests need root, a running libvirtd and the built appliance. On a
developer's machine without those they skip, saying why; under
``bash setup.sh test`` (and so in CI) VIRTDECK_REQUIRE_INTEGRATION=1 makes a
missing prerequisite a failure, so CI can never pass by skipping.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/unit/golden/*.xml from the current output",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        if "/hostile/" in str(item.fspath):
            item.add_marker(pytest.mark.hostile)


def require_or_skip(reason: str) -> None:
    """Skip with ``reason``, or fail when integration tests are required."""
    if os.environ.get("VIRTDECK_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"integration prerequisite missing: {reason}")
    pytest.skip(reason)
