"""One result file per measurement, ``build/bench/NAME.json``: the raw runs of every figure,
their min/median/max and run count, the target and whether it was met, and the machine.

A figure without a target is reported, not judged. A measurement that cannot be taken is
written as such (``status: "not measurable"`` and the reason), never as a made-up number.

    {"name": "load", "title": ..., "method": ..., "status": "pass" | "miss" | "not measurable",
     "machine": {...}, "figures": {"overhead_tiny_ms": {"unit": "ms", "runs": [...],
     "n": 7, "min": ..., "median": ..., "max": ..., "target": "<= 100", "pass": true}}}
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "build" / "bench"


@dataclass(frozen=True)
class Target:
    """``stat`` of the runs (median, p99, value) must be ``<=`` ``limit`` (and ``>= low``)."""

    limit: float
    stat: str = "median"
    low: float | None = None

    def met(self, value: float) -> bool:
        return value <= self.limit and (self.low is None or value >= self.low)

    def __str__(self) -> str:
        if self.low is not None:
            return f"{self.low:g} <= {self.stat} <= {self.limit:g}"
        return f"{self.stat} <= {self.limit:g}"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): p99 of 20 runs is the largest one."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(runs: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(runs),
        "min": min(runs),
        "median": statistics.median(runs),
        "max": max(runs),
        "p99": percentile(runs, 99),
    }


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept)."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, mean_y - slope * mean_x


@dataclass
class Result:
    name: str
    title: str
    method: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unmeasurable: str | None = None
    started: float = field(default_factory=time.time)
    load_before: tuple[float, float, float] = field(default_factory=os.getloadavg)

    def add(
        self,
        key: str,
        runs: Sequence[float],
        unit: str,
        target: Target | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A figure from its raw runs; ``extra`` keeps what else explains it (paired runs...)."""
        figure: dict[str, Any] = {"unit": unit, "runs": [round(r, 4) for r in runs]}
        figure.update({k: round(v, 4) for k, v in summary(runs).items()})
        if target is not None:
            figure["target"] = str(target)
            figure["pass"] = target.met(figure[target.stat])
        figure.update(extra)
        self.figures[key] = figure
        return figure

    def add_value(
        self, key: str, value: float, unit: str, target: Target | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A derived single number (a fitted slope, a ratio of medians)."""
        figure: dict[str, Any] = {"unit": unit, "value": round(value, 4)}
        if target is not None:
            figure["target"] = str(Target(target.limit, "value", target.low))
            figure["pass"] = target.met(value)
        figure.update(extra)
        self.figures[key] = figure
        return figure

    def add_check(self, key: str, held: bool, what: str, **extra: Any) -> None:
        """A yes/no target (the final state always arrived, growth linear or better)."""
        self.figures[key] = {"unit": "bool", "value": held, "target": what, "pass": held, **extra}

    @property
    def status(self) -> str:
        if self.unmeasurable is not None:
            return "not measurable"
        judged = [f["pass"] for f in self.figures.values() if "pass" in f]
        return "pass" if all(judged) else "miss"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "method": self.method,
            "status": self.status,
        }
        if self.unmeasurable is not None:
            data["reason"] = self.unmeasurable
        data.update(
            {
                "figures": self.figures,
                "notes": self.notes,
                "machine": machine(self.load_before),
                "duration_s": round(time.time() - self.started, 1),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        return data

    def write(self, out: Path = OUT) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.name}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        print(f"{self.name}: {self.status} -> {path}")
        for key, figure in self.figures.items():
            print(f"  {key}: {brief(figure)}")
        return path


def brief(figure: dict[str, Any]) -> str:
    """One line for a figure: median [min-max] nN unit, and its verdict."""
    if "median" in figure:
        text = (
            f"{figure['median']:g} [{figure['min']:g}-{figure['max']:g}] "
            f"n={figure['n']} {figure['unit']}"
        )
    else:
        text = f"{figure['value']} {figure['unit']}"
    if "target" in figure:
        text += f"  target {figure['target']}: {'pass' if figure['pass'] else 'MISS'}"
    return text


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """What the numbers were measured on, and how busy it was (the machine may be shared)."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / (1 << 20), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }


def growth_check(ns: Sequence[float], per_n: Sequence[Sequence[float]]) -> tuple[bool, str]:
    """Is a cost linear in N or better? The growth exponent k of the cost above the smallest N,
    taken between the last two points: k = log(rise at N_last / rise at N_prev) /
    log((N_last - N_0) / (N_prev - N_0)) is 1 for a linear cost, ~2 for a quadratic one; it
    must be at most 1.25. A rise below the noise (the runs' spread at the last two points plus
    5 % of the whole rise) counts as that noise, so flat figures do not fake a steep curve."""
    medians = [statistics.median(r) for r in per_n]
    noise = max(per_n[-1]) - min(per_n[-1]) + max(per_n[-2]) - min(per_n[-2])
    noise += 0.05 * abs(medians[-1] - medians[0])
    rise_last = max(medians[-1] - medians[0], noise)
    rise_prev = max(medians[-2] - medians[0], noise)
    k = math.log(rise_last / rise_prev) / math.log((ns[-1] - ns[0]) / (ns[-2] - ns[0]))
    return k <= GROWTH_EXPONENT, f"growth exponent {k:.2f} (noise {noise:.4g})"


GROWTH_EXPONENT = 1.25  # N log N over these ranges is ~1.1-1.2, a quadratic cost ~2
