"""Seconds per image of the text cue as configured (OCR + small-text re-reads + analysis).

    python -m benchmarks.bench_text_latency [--limit 150] [--no-reread]
"""

from __future__ import annotations

import argparse
import sys
import time

from geosleuth.cues import create_cue
from geosleuth.labels import read_labels
from geosleuth.fusion.grid import CellGrid
from geosleuth.photo import Photo

from benchmarks._report import ms, write
from benchmarks.paths import DEV


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--no-reread", action="store_true")
    args = ap.parse_args()
    grid = CellGrid.default()
    cue = create_cue("text", reread_small=not args.no_reread)
    labels = read_labels(DEV / "dev.csv")[: args.limit]
    cue.observe(Photo.open(DEV / "images" / labels[0].image_id), grid)  # model loads, caches
    samples = []
    for lb in labels[1:]:
        photo = Photo.open(DEV / "images" / lb.image_id)
        t = time.perf_counter()
        cue.observe(photo, grid)
        samples.append(time.perf_counter() - t)
    write("text_latency" + ("_no_reread" if args.no_reread else ""),
          {"images": len(samples), "reread_small": cue.reread_small, **ms(samples),
           "max_ms": round(max(samples) * 1000, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
