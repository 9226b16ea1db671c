"""What the detect cue adds to a photo's time, beside the text cue (whose lines it reuses).

    python -m benchmarks.bench_detect [--limit 40] [--weights PATH]

On dev photos: the seconds of the detect cue's own `observe` after the text cue has read the
photo (YOLO, then plate and sign reads), split by whether YOLO found a vehicle. The target for
turning it on by default is <= 0.3 s on photos without vehicles.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from geosleuth import Geolocator
from geosleuth.config import load_config
from geosleuth.cues.engines.detector import VEHICLES, detect_objects
from geosleuth.labels import read_labels
from geosleuth.photo import Photo

from benchmarks._report import ms, write
from benchmarks.paths import DEV, YOLO


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--weights", default=str(YOLO))
    args = ap.parse_args(argv)
    geo = Geolocator(load_config(sets=[f"detector.weights={args.weights}", "cues.detect.enabled=true"]))
    text = next(c for c in geo.cues if c.name == "text")
    detect = next(c for c in geo.cues if c.name == "detect")
    labels = read_labels(DEV / "dev.csv")[: args.limit + 1]
    warm = Photo.open(DEV / "images" / labels[0].image_id)  # models load
    text.observe(warm, geo.grid), detect.observe(warm, geo.grid)
    split: dict[str, list[float]] = {"without vehicles": [], "with vehicles": []}
    for label in labels[1:]:
        photo = Photo.open(DEV / "images" / label.image_id)
        text.observe(photo, geo.grid)
        t = time.perf_counter()
        detect.observe(photo, geo.grid)
        seconds = time.perf_counter() - t
        vehicles = any(d.label in VEHICLES for d in detect_objects(photo, detect.detector))
        split["with vehicles" if vehicles else "without vehicles"].append(seconds)
    write("bench_detect", {k: {"photos": len(v), **(ms(v) if v else {}), "mean_s": round(float(np.mean(v)), 3)
                               if v else None} for k, v in split.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
