"""The results of the last `make bench` as Markdown, from build/bench/*.json:
python -m bench.report            → build/bench/results.md
python -m bench.report --docs     → also between the markers of docs/BENCHMARKS.md, with the
                                    plot copied next to it (to publish a run)"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.result import OUT

ORDER = ("pull", "load", "readiness", "signals", "router", "footprint", "scale", "hal0ctl")
DOCS = Path(__file__).resolve().parents[1] / "docs"
BEGIN, END = "<!-- results: begin -->", "<!-- results: end -->"


def cell(figure: dict[str, Any]) -> str:
    if "median" in figure:
        return (
            f"{figure['median']:.4g} ({figure['min']:.4g} to {figure['max']:.4g}, "
            f"n={figure['n']}) {figure['unit']}"
        )
    value = figure["value"]
    return f"{value:.4g} {figure['unit']}" if isinstance(value, float) else str(value)


def verdict(figure: dict[str, Any]) -> str:
    if "pass" not in figure:
        return ""
    return "pass" if figure["pass"] else "**miss**"


def render(results: list[dict[str, Any]]) -> str:
    first = results[0]["machine"]
    loads = [r["machine"]["loadavg_before"][0] for r in results]
    lines = [
        f"Machine: {first['cpu']}, {first['cores']} cores, {first['memory_gib']} GiB, "
        f"Linux {first['kernel']}; 1-min load average at the start of each measurement "
        f"{min(loads):.1f} to {max(loads):.1f} (the machine is shared). "
        f"Finished {max(r['finished'] for r in results)}.",
        "",
        "| measurement | figure | median (min to max, runs) | target | result |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        if result["status"] == "not measurable":
            lines.append(f"| {result['name']} | — | {result['reason']} | | not measurable |")
            continue
        for key, figure in result["figures"].items():
            target = figure.get("target", "")
            lines.append(
                f"| {result['name']} | `{key}` | {cell(figure)} | {target} | {verdict(figure)} |"
            )
    return "\n".join(lines) + "\n"


def main(docs: bool) -> None:
    # The usual order first, then any measurement it does not name yet: none is left out.
    found = {path.stem for path in OUT.glob("*.json")}
    names = [n for n in ORDER if n in found] + sorted(found - set(ORDER))
    results = [json.loads((OUT / f"{name}.json").read_text()) for name in names]
    table = render(results)
    (OUT / "results.md").write_text(table)
    print(f"report -> {OUT / 'results.md'}")
    if docs:
        page = DOCS / "BENCHMARKS.md"
        text = page.read_text()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        page.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
        shutil.copyfile(OUT / "cost-vs-slots.png", DOCS / "benchmarks-cost-vs-slots.png")
        print(f"published -> {page}")


if __name__ == "__main__":
    main("--docs" in sys.argv[1:])
