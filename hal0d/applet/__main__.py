"""`hal0-applet` / `python -m hal0d.applet`."""

import asyncio
import logging
import sys

from hal0d.applet.app import run


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="hal0-applet: %(message)s", stream=sys.stderr)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
