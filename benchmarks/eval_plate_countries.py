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
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from geosleuth import Geolocator
from geosleuth.config import load_config
from geosleuth.gazetteer.reverse import reverse_lookup

from benchmarks._report import ms, write
from benchmarks.paths import HERE, OUTPUTS, PLATES, YOLO

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
    ap.add_argument("--part", default="0/1", help="K/N: only every N-th photo from the K-th (run N at once)")
    ap.add_argument("--merge", type=int, metavar="N", help="write the summary of the N parts run before")
    args = ap.parse_args(argv)
    if not (PLATES / "plates.csv").is_file():
        sys.exit(f"{PLATES} is missing")
    eu = {r["IMG_ID"]: r["COUNTRY"] for r in csv.DictReader(open(EU_LABELS, newline=""))}
    rows = [r for r in csv.DictReader(open(PLATES / "plates.csv", newline="")) if r["REGION"] != "EU" or r["IMG_ID"] in eu]
    if args.per_region:
        rows = [r for region in ("BR", "US", "EU") for r in [r for r in rows if r["REGION"] == region][: args.per_region]]
    k, n = (int(v) for v in args.part.split("/"))
    if args.merge:
        merge(args.config, args.merge, args.sets)
        return 0
    rows = rows[k::n]
    geo = Geolocator(load_config(args.config, sets=[f"detector.weights={args.weights}", "cues.detect.enabled=true",
                                                    *args.sets]))
    results: dict[str, list[dict]] = {"BR": [], "US": [], "EU": []}
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            photo = stripped(PLATES / "images" / row["IMG_ID"], Path(tmp))
            t = time.perf_counter()
            pred = geo.locate(photo)
            seconds = time.perf_counter() - t
            top, p = next(iter(pred.countries.items()), ("", 0.0))
            evidence = pred.cues["detect"].evidence if "detect" in pred.cues else ()
            plates = [e.details for e in evidence if e.kind == "plate"]
            states = [e.details["place"] for e in evidence
                      if e.kind == "plate_print" and e.details.get("country") == "US" and e.details.get("place")]
            truth = row["COUNTRY"] or eu[row["IMG_ID"]]
            results[row["REGION"]].append({"image": row["IMG_ID"], "truth": truth, "top": top,
                                           "p": round(p, 4), "sure": bool(p >= 0.5),
                                           "plates": [d.get("text") for d in plates],
                                           "band_code": next((d.get("band_code") for d in plates
                                                              if d.get("band_code")), None),
                                           "state_named": states[0] if states else None,
                                           "answer_state": reverse_lookup(pred.answer.lat, pred.answer.lon)[0].admin1,
                                           "seconds": round(seconds, 2)})
            print(f"{row['IMG_ID']}: {top} {p:.2f} {[d.get('text') for d in plates]}", file=sys.stderr)
    name = f"plate_countries_{args.config}"
    if n > 1:  # a part: its photos alone; --merge N writes the whole
        (OUTPUTS / f"{name}_part{k}of{n}.json").write_text(json.dumps(results) + "\n")
        return 0
    write(name, {"config": args.config, "sets": args.sets, **summarise(results)})
    return 0


def merge(config: str, n: int, sets: list[str]) -> None:
    """The parts' photos together, summarised as one run."""
    results: dict[str, list[dict]] = {"BR": [], "US": [], "EU": []}
    for k in range(n):
        for region, items in json.loads((OUTPUTS / f"plate_countries_{config}_part{k}of{n}.json").read_text()).items():
            results[region] += items
    write(f"plate_countries_{config}", {"config": config, "sets": sets, **summarise(results)})


def summarise(results: dict[str, list[dict]]) -> dict:
    """Per region: right country, confidently wrong, the US state where the plate names one."""
    summary = {}
    for region, items in results.items():
        scored = [r for r in items if r["truth"]]
        right = [r["top"] == r["truth"] for r in scored]
        summary[region] = {
            "photos": len(items), "scored": len(scored),
            "right_country": round(float(np.mean(right)), 4) if scored else None,
            "confidently_wrong": round(float(np.mean([r["top"] != r["truth"] and r["sure"] for r in scored])), 4)
            if scored else None,
            "top_countries": dict(Counter(r["top"] for r in items).most_common(5)),
            "us_state_named": sum(bool(r.get("state_named")) for r in items),
            "us_state_answered_right": sum(bool(r.get("state_named")) and r["state_named"].split(",")[0] ==
                                           r["answer_state"] for r in items),
            "with_a_plate_read": sum(bool(r["plates"]) for r in items),
        }
    seconds = [r["seconds"] for items in results.values() for r in items if "seconds" in r]
    return {"summary": summary, "seconds_per_photo": ms(seconds) if seconds else None, "photos": results}

if __name__ == "__main__":
    sys.exit(main())
