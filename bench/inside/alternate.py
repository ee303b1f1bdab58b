"""Wall time of commands run in turn, A B C A B C ..., after one warm-up round:
    python3 -I alternate.py RUNS '{"label": ["argv", ...], ...}'  → {"label": [seconds, ...]}
No shell; output is discarded; a failing command is fatal."""

import json
import subprocess
import sys
import time


def main(runs: int, commands: dict[str, list[str]]) -> None:
    walls: dict[str, list[float]] = {label: [] for label in commands}
    for index in range(runs + 1):
        for label, argv in commands.items():
            started = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            if index:
                walls[label].append(time.perf_counter() - started)
    print(json.dumps(walls))


if __name__ == "__main__":
    main(int(sys.argv[1]), json.loads(sys.argv[2]))
