"""Suite-wide test plumbing.

- ``async def`` tests run in a fresh event loop via asyncio.run, so no pytest-asyncio (whose
  behaviour differs between Debian's 0.20 and PyPI's 1.x) is needed.
- Under CI=true a skipped test is a failure: a missing tool must never pass silently.
"""

import asyncio
import inspect
import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import test_dependency_set

CI = os.environ.get("CI") == "true"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[Any]:
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A directory every user can enter (pytest's tmp_path is under a 0700 directory), for
    tests that check files as another user."""
    directory = Path(tempfile.mkdtemp(prefix="hal0-reachable-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def pytest_report_header() -> list[str]:
    return test_dependency_set.report()
