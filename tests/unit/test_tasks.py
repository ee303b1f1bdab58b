"""Background tasks: a failure is logged with its traceback and what the task was for."""

import asyncio
import logging

import pytest

from hal0d.tasks import TaskSet


async def test_a_failing_task_is_logged_and_a_cancelled_one_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = TaskSet(logging.getLogger("test"))

    async def fail() -> None:
        raise ValueError("boom")

    failed = tasks.spawn(fail(), "the failing job")
    waiting = tasks.spawn(asyncio.Event().wait(), "the waiting job")
    await asyncio.wait({failed})
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    await tasks.close()
    assert waiting.cancelled()
    [record] = [r for r in caplog.records if r.name == "test"]
    assert record.getMessage() == "the failing job failed"
    assert record.exc_info is not None
    assert "boom" in str(record.exc_info[1])
