"""Merge the pull results of each dependency set into one build/bench/pull.json:
    python -m bench.merge PART...   (PART: build/bench/parts/pull-SET.json)
Figures keep their runs and verdicts, named SET.FIGURE."""

import json
import sys
from pathlib import Path

from bench.result import OUT, brief


def main(*parts: str) -> None:
    merged: dict[str, object] = {}
    figures: dict[str, dict[str, object]] = {}
    notes: list[str] = []
    for part in parts:
        data = json.loads(Path(part).read_text())
        dependency_set = data["name"].removeprefix("pull-")
        merged = {**data, "name": "pull", "title": "Pull 1 GiB over loopback nginx"}
        figures.update({f"{dependency_set}.{k}": v for k, v in data["figures"].items()})
        notes += [f"{dependency_set}: {note}" for note in data["notes"]]
    merged["figures"] = figures
    merged["notes"] = notes
    merged["status"] = "pass" if all(f.get("pass", True) for f in figures.values()) else "miss"
    (OUT / "pull.json").write_text(json.dumps(merged, indent=2) + "\n")
    print(f"pull: {merged['status']} -> {OUT / 'pull.json'}")
    for key, figure in figures.items():
        print(f"  {key}: {brief(figure)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
