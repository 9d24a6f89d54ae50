"""Fixtures of the end-to-end tests: a running ``centralita serve`` and a work folder.

Tests import the harness as ``tests.e2e.*``; the project root is put on ``sys.path`` here
because pytest's importlib mode does not do it.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.e2e.pbx import Pbx  # noqa: E402

# Short on purpose: the no-answer test waits for it.
RING_TIMEOUT = 3.0


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def pbx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    """A fresh server per test: its own SQLite database, SIP port and RTP range."""
    server = Pbx(tmp_path / "pbx", ring_timeout=RING_TIMEOUT)
    try:
        with server:
            yield server
            if not server.alive():
                pytest.fail(f"centralita serve died during the test\n{server.log()[-8000:]}")
    finally:
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            request.node.add_report_section("teardown", "centralita serve log", server.log())
