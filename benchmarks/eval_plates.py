"""Licence plates on the labelled real photos (shared/data/plates): localisation, text, country.

    python -m benchmarks.eval_plates [--weights PATH] [--limit N]

Reports plate localisation recall (a found plate with IoU >= 0.5 to the labelled box), plate-text
accuracy (exact, after normalisation, among images whose plate was found) and, on the US and
Brazilian photos, how often the detect cue alone ranks the right country first.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time

import numpy as np

from geosleuth.config import load_config
from geosleuth.cues import create_cue
from geosleuth.cues.engines import Engines
from geosleuth.cues.engines.detector import detect_objects
from geosleuth.cues.clues.plates import iou, normalise_plate
from geosleuth.cues.detect import plate_clues
from geosleuth.photo import Photo

from benchmarks._report import ms, write
from benchmarks.paths import PLATES, YOLO


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default=str(YOLO))
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    rows = list(csv.DictReader(open(PLATES / "plates.csv", newline="")))[: args.limit]
    cue = create_cue("detect", engines=Engines.from_config(load_config(sets=[f"detector.weights={args.weights}"])))
    detector = cue.detector
    found = text_ok = 0
    country_hits: dict[str, list[bool]] = {"US": [], "BR": []}
    seconds, det_seconds = [], []
    for row in rows:
        photo = Photo.open(PLATES / "images" / row["IMG_ID"])
        s = photo.scale
        truth = tuple(float(v) * s for v in (int(row["X"]), int(row["Y"]), int(row["X"]) + int(row["W"]),
                                              int(row["Y"]) + int(row["H"])))
        t = time.perf_counter()
        objects = detect_objects(photo, detector) if detector.available()[0] else None
        det_seconds.append(time.perf_counter() - t)
        plates = cue.find_plates(photo, cue.ocr.first_available(), objects)
        seconds.append(time.perf_counter() - t)
        best = max(plates, key=lambda p: iou(p.box, truth), default=None)
        hit = best is not None and iou(best.box, truth) >= 0.5
        found += hit
        text_ok += hit and best.text == normalise_plate(row["PLATE"])
        if row["COUNTRY"] in country_hits:
            if plates:  # the cue's own combination, at country level: sum of log((1 - r) + r * f)
                votes: dict[str, float] = {}
                for p in plates:
                    for clue in plate_clues(p):
                        said = clue.countries or {place.country: w for place, w in clue.places}
                        for cc, w in said.items():
                            votes[cc] = votes.get(cc, 0.0) + np.log((1 - clue.reliability) + clue.reliability * w)
                top = max(votes, key=votes.get)
            else:
                top = None
            country_hits[row["COUNTRY"]].append(top == row["COUNTRY"])
    n = len(rows)
    write("plates", {
        "images": n, "localisation_recall_iou50": round(found / n, 4),
        "text_accuracy_of_found": round(text_ok / found, 4) if found else None,
        "country_top1": {k: {"n": len(v), "accuracy": round(float(np.mean(v)), 4) if v else None}
                         for k, v in country_hits.items()},
        "country_top1_us_br": round(float(np.mean(country_hits["US"] + country_hits["BR"])), 4)
        if country_hits["US"] + country_hits["BR"] else None,
        "detector_seconds": ms(det_seconds), "plate_search_seconds": ms(seconds),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
