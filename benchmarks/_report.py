"""Shared by the benchmark scripts: latency summaries and writing results to benchmarks/out."""

from __future__ import annotations

import json
import statistics

from benchmarks.paths import OUTPUTS


def ms(samples: list[float]) -> dict[str, float]:
    """Median and 95th percentile of durations given in seconds, in milliseconds."""
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s) * 1000, 3), "p95_ms": round(s[int(0.95 * (len(s) - 1))] * 1000, 3)}


def write(name: str, data: dict) -> None:
    """Save `data` as benchmarks/out/<name>.json and print it."""
    OUTPUTS.mkdir(exist_ok=True)
    (OUTPUTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))
