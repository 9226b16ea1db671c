"""Where the benchmarks read and write: the shared reference data beside the checkout
(`../shared`, or $GEOSLEUTH_SHARED as for the tests) and their outputs in benchmarks/out."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("GEOSLEUTH_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
DEV = DATA / "im2gps3k-dev"  # the labelled dev photos: images/ and dev.csv
EXIF_SAMPLES = DATA / "exif-samples"
PLATES = DATA / "plates"  # the labelled real car photos
RECORDED_EXPERTS = DATA / "recorded-experts"
YOLO = SHARED / "weights" / "yolov8n_int8.tflite"
OUTPUTS = HERE / "out"  # what the scripts write (not committed), some in a folder of their own
