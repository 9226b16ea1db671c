"""Cost of the exif cue per image (metadata parse + likelihood), steady state and first call.

    python -m benchmarks.bench_exif [--repeat 50]

Images: the shared EXIF samples (GPS, invalid) when present, the bundled example (UTC offset
only) and a synthetic GPS JPEG. Each photo is decoded fresh per run so the parse is counted.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational as R

from geosleuth import example_image
from geosleuth.cues import create_cue
from geosleuth.fusion.grid import CellGrid
from geosleuth.photo import Photo

from benchmarks._report import ms, write
from benchmarks.paths import EXIF_SAMPLES


def synthetic_gps() -> bytes:
    ex = Image.Exif()
    ex.get_ifd(0x8825).update({1: "N", 2: (R(48, 1), R(51, 1), R(2400, 100)), 3: "E", 4: (R(2, 1), R(21, 1), R(700, 100))})
    buf = io.BytesIO()
    Image.new("RGB", (640, 480)).save(buf, "JPEG", exif=ex.tobytes())
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    inputs: dict[str, bytes] = {"example (offset)": Path(example_image()).read_bytes(), "synthetic gps": synthetic_gps()}
    for f in sorted(EXIF_SAMPLES.glob("*.jpg")) + sorted(EXIF_SAMPLES.glob("invalid/*.jpg")):
        inputs[f.name] = f.read_bytes()
    grid = CellGrid.default()
    cue = create_cue("exif")

    t = time.perf_counter()
    cue.observe(Photo.open(inputs["example (offset)"]), grid)  # time-zone tables + finder
    cue.observe(Photo.open(inputs["synthetic gps"]), grid)  # reverse geocoder for the place name
    first = time.perf_counter() - t

    samples = []
    for _ in range(args.repeat):
        for data in inputs.values():
            photo = Photo.open(data)
            t = time.perf_counter()
            cue.observe(photo, grid)
            samples.append(time.perf_counter() - t)
    write("exif", {"images": len(inputs), "runs": len(samples), "first_calls_s": round(first, 3), **ms(samples),
                   "max_ms": round(max(samples) * 1000, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
