"""Merge per-set benchmark results:  python -m bench.merge OUT PART..."""

import json
import sys
from pathlib import Path


def main(out: str, *parts: str) -> None:
    sets = {}
    for part in parts:
        data = json.loads(Path(part).read_text())
        sets[data["set"]] = data
    Path(out).write_text(
        json.dumps({"benchmark": "pull-1GiB-loopback", "sets": sets}, indent=2) + "\n"
    )
    for name, data in sets.items():
        print(
            f"{name:>7}: hal0d {data['hal0d_s']:.3f} s, curl+openssl {data['peer_s']:.3f} s,"
            f" limit {data['limit_s']:.3f} s, ratio {data['ratio']:.3f}"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
