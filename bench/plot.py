"""Cost of hal0d against slot count, from build/bench/{footprint,scale}.json, as a PNG:
    python -m bench.plot [OUT.png]      (default build/bench/cost-vs-slots.png)
Runs in the benchmark's own venv (matplotlib); each point is a median, bars span min-max."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from bench.result import OUT

PANELS = (
    ("footprint", "hal0d_rss_mib", "hal0d RSS, configured slots", "MiB"),
    ("scale", "ready_ms", "start → READY=1, configured slots", "ms"),
    ("scale", "get_managed_objects_ms", "GetManagedObjects / ListSlots", "ms"),
    ("scale", "rebuild_ms_running", "restart → READY=1, running slots", "ms"),
)


def series(figures: dict[str, Any], key: str) -> tuple[list[int], list[float], list[list[float]]]:
    points = sorted((f["slots"], f) for name, f in figures.items() if name.startswith(f"{key}_n"))
    ns = [n for n, _ in points]
    medians = [f["median"] for _, f in points]
    spans = [
        [f["median"] - f["min"] for _, f in points],
        [f["max"] - f["median"] for _, f in points],
    ]
    return ns, medians, spans


def main(out: Path) -> None:
    results = {
        name: json.loads((OUT / f"{name}.json").read_text()) for name in ("footprint", "scale")
    }
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    for ax, (name, key, title, unit) in zip(axes.flat, PANELS, strict=True):
        figures = results[name]["figures"]
        keys = [key, "list_slots_ms"] if key == "get_managed_objects_ms" else [key]
        for each in keys:
            ns, medians, spans = series(figures, each)
            ax.errorbar(ns, medians, yerr=spans, marker="o", capsize=3, label=each)
        ax.set_title(title)
        ax.set_xlabel("slots")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend()
    machine = results["scale"]["machine"]
    fig.suptitle(
        f"hal0d cost vs slot count — {machine['cores']} cores, {machine['cpu']} "
        f"(median, min-max bars)",
        fontsize=10,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(f"plot -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT / "cost-vs-slots.png")
