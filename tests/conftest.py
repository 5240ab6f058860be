"""Shared fixtures. The Prefect test server starts once per test run, and only for tests that ask for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Server, prefect_server_start

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def paragraphs() -> Path:
    """118 real zhwiki paragraphs: DRCD (traditional), CMRC2018 (simplified), a mixed-script article."""
    return FIXTURES / "text" / "zhwiki_paragraphs.txt"


@pytest.fixture(scope="session")
def dedicated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `prefect server start` for the tests that need a server as a team runs one."""
    with prefect_server_start(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server
