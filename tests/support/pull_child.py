"""Pull one model in this process: the SIGKILL test runs it, kills it, and runs it again.

    python -m tests.support.pull_child MODELS_DIR STATE_DIR URL SHA256 SIZE

Prints the stored path on success.
"""

import asyncio
import sys
from pathlib import Path

from hal0d.store.download import PullRequest
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore


async def main(models_dir: str, state_dir: str, url: str, sha256: str, size: str) -> None:
    settings = StoreSettings(
        models_dir=Path(models_dir),
        state_dir=Path(state_dir),
        stall_timeout=60.0,
        backoff_initial=0.05,
        backoff_max=0.2,
        free_space_margin=0,
    )
    store = ModelStore(settings)
    await store.open()
    try:
        request = PullRequest(url, sha256, int(size), allow_http=True, name="killed-model")
        path = await store.pull(request).wait()
    finally:
        await store.close()
    print(path, flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
