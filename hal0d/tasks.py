"""Background tasks that are never dropped silently.

Every task hal0d spawns goes into a `TaskSet`: the set keeps a reference (so the task is not
garbage-collected mid-flight), and when a task ends with an exception its traceback is logged
with what the task was for. `close()` cancels what is left and waits for it.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any


class TaskSet:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], what: str) -> "asyncio.Task[Any]":
        """Run ``coroutine`` in the background; ``what`` names it in the log if it fails."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(done, what))
        return task

    def _done(self, task: "asyncio.Task[Any]", what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._log.error("%s failed", what, exc_info=error)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
