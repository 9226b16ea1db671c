"""End-to-end speed and memory with every cue on (exif, text, detect, visual, scene).

    python -m benchmarks.bench_pipeline [--limit 60] [--weights PATH]

Locates dev photos one at a time, as an analyst would, after one warm-up photo whose time is
reported as the model load (first call: imports, model loads, gazetteer and time-zone tables).
Reports per-cue latency (median, p95), end-to-end median/p95 seconds, images/s and the peak
resident memory of the process. Writes benchmarks/out/pipeline_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.paths import DEV, OUTPUTS, YOLO


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEV / "images")
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--weights", type=Path, default=YOLO, help="YOLO weights for the detect cue")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    from geosleuth import Geolocator

    geo = Geolocator.from_config("default", sets=["cues.detect.enabled=true", f"detector.weights={args.weights}"])
    paths = sorted(args.images.glob("*.jpg"))[: args.limit + 1]
    first = geo.locate(paths[0])
    load = time.perf_counter() - start
    seconds, per_cue = [], {name: [] for name in first.cues}
    t0 = time.perf_counter()
    for path in paths[1:]:
        pred = geo.locate(path)
        seconds.append(pred.timings["total"])
        for name, report in pred.cues.items():
            per_cue[name].append(report.seconds)
    wall = time.perf_counter() - t0
    result = {"images": len(seconds), "cues": list(per_cue),
              "first_call_s": round(load, 2),
              "locate_s": {"median": round(float(np.median(seconds)), 3), "p95": round(float(np.percentile(seconds, 95)), 3)},
              "images_per_s": round(len(seconds) / wall, 2),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "cue_s": {n: {"median": round(float(np.median(s)), 3), "p95": round(float(np.percentile(s, 95)), 3)}
                        for n, s in per_cue.items()}}
    out = OUTPUTS / "pipeline_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [f"| {n} | {v['median']} | {v['p95']} |" for n, v in result["cue_s"].items()]
    rows.append(f"| end to end | {result['locate_s']['median']} | {result['locate_s']['p95']} |")
    out.with_suffix(".md").write_text(
        f"{result['images']} dev photos, every cue on: {result['images_per_s']} images/s, first call "
        f"{result['first_call_s']} s, peak RSS {result['peak_rss_mb']} MB\n\n| seconds | median | p95 |\n|---|---|---|\n"
        + "\n".join(rows) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
