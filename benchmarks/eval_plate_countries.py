"""Licence plates that locate: the whole pipeline on the labelled real car photos (shared/data/plates).

    python -m benchmarks.eval_plate_countries [--weights PATH] [--per-region N] [--config NAME] [--set K=V ...]

Each photo is located with the default config and the detect cue on (the shared YOLO weights),
from a copy with its metadata removed. Nothing here is fitted on these photos: the plate
tables come from documented specifications. Reported per region (BR, US, EU): how often the
answer's most probable country is right (EU: the country whose band code, or coat of arms and
code, is visible on the plate, labelled by hand in data/plates_eu_countries.csv; EU photos where
none is legible are left out), how often a wrong country gets p >= 0.5
("confidently wrong"), and the time per photo. Writes out/plate_countries_<config>.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from geosleuth import Geolocator
from geosleuth.config import load_config

from benchmarks._report import ms, write
from benchmarks.paths import HERE, PLATES, YOLO

# The EU photos' countries, labelled by hand from the band code (or the coat of arms and code)
# visible on each plate; photos where none is legible are not scored.
EU_LABELS = HERE / "data" / "plates_eu_countries.csv"


def stripped(path: Path, folder: Path) -> Path:
    """A copy of the photo's pixels alone (no EXIF, no other metadata)."""
    with Image.open(path) as im:
        out = folder / path.name
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=95)
        out.write_bytes(buf.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(YOLO))
    ap.add_argument("--per-region", type=int, help="at most this many photos of each region (BR, US, EU)")
    ap.add_argument("--config", default="default")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    args = ap.parse_args(argv)
    if not (PLATES / "plates.csv").is_file():
        sys.exit(f"{PLATES} is missing")
    eu = {r["IMG_ID"]: r["COUNTRY"] for r in csv.DictReader(open(EU_LABELS, newline=""))}
    rows = [r for r in csv.DictReader(open(PLATES / "plates.csv", newline="")) if r["REGION"] != "EU" or r["IMG_ID"] in eu]
    if args.per_region:
        rows = [r for region in ("BR", "US", "EU") for r in [r for r in rows if r["REGION"] == region][: args.per_region]]
    geo = Geolocator(load_config(args.config, sets=[f"detector.weights={args.weights}", "cues.detect.enabled=true",
                                                    *args.sets]))
    results: dict[str, list[dict]] = {"BR": [], "US": [], "EU": []}
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            photo = stripped(PLATES / "images" / row["IMG_ID"], Path(tmp))
            t = time.perf_counter()
            pred = geo.locate(photo)
            seconds.append(time.perf_counter() - t)
            top, p = next(iter(pred.countries.items()), ("", 0.0))
            plates = [e.details for e in pred.cues["detect"].evidence if e.kind == "plate"] \
                if "detect" in pred.cues else []
            truth = row["COUNTRY"] or eu[row["IMG_ID"]]
            results[row["REGION"]].append({"image": row["IMG_ID"], "truth": truth, "top": top, "p": round(p, 3),
                                           "plates": [d.get("text") for d in plates],
                                           "band_code": next((d.get("band_code") for d in plates
                                                              if d.get("band_code")), None)})
            print(f"{row['IMG_ID']}: {top} {p:.2f} {[d.get('text') for d in plates]}", file=sys.stderr)
    summary = {}
    for region, items in results.items():
        scored = [r for r in items if r["truth"]]
        right = [r["top"] == r["truth"] for r in scored]
        summary[region] = {
            "photos": len(items), "scored": len(scored),
            "right_country": round(float(np.mean(right)), 4) if scored else None,
            "confidently_wrong": round(float(np.mean([r["top"] != r["truth"] and r["p"] >= 0.5 for r in scored])), 4)
            if scored else None,
            "top_countries": dict(Counter(r["top"] for r in items).most_common(5)),
            "with_a_plate_read": sum(bool(r["plates"]) for r in items),
        }
    write(f"plate_countries_{args.config}", {"config": args.config, "sets": args.sets, "summary": summary,
                              "seconds_per_photo": ms(seconds), "photos": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
