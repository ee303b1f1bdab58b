"""`python3 -I -m hal0d.runner`: ExecStart= of hal0-slot@.service."""

import sys

from hal0d.runner.envspec import EnvSpecError
from hal0d.runner.notify import Notifier
from hal0d.runner.runner import EXIT_CONFIG, Runner, log
from hal0d.runner.settings import load_settings


def main() -> int:
    try:
        settings = load_settings()
    except EnvSpecError as error:
        log(3, f"the slot's env file is unusable: {error}")
        Notifier().send(STATUS=f"bad env file: {error}")
        return EXIT_CONFIG
    return Runner(settings, Notifier()).run()


if __name__ == "__main__":
    sys.exit(main())
