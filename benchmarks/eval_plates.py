"""Licence plates on the labelled real photos (shared/data/plates): found, read, and placed.

    python -m benchmarks.eval_plates [--weights PATH] [--limit N] [--fresh] [--part K/N]

Step 1 (cached in out/plate_reads.jsonl; --fresh reads again; N runs of --part K/N share the
work): the detect cue's plate search on each photo, with its metadata removed: what it found,
with the features it measured.
Step 2: the plates' clues alone against the default prior, at country level. Reported per
region (BR, US, EU; EU photos are labelled by the band code or coat of arms in
data/plates_eu_countries.csv, those without a legible one left out):
- found: a plate box with IoU >= 0.5 to the labelled one; read: its characters exact;
- measured width/height against the labelled box's;
- right country first, confidently wrong (p >= 0.5 on a wrong country), and the US state where
  the plate's small print names one;
- seconds per photo of the search (YOLO, vehicle crops, plate crops; the text cue's lines are
  counted too, as they are read here first).
The tables come from documented specifications (plates.yaml); the trust settings (how often a
read is right, how much a read on a vehicle is a plate, the shape's spread) are chosen out of
region (`check`), and the shipped ones are those every held-out region chose.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks._report import ms, write
from benchmarks.eval_plate_countries import EU_LABELS, stripped
from benchmarks.paths import OUTPUTS, PLATES, YOLO

READS = OUTPUTS / "plate_reads.jsonl"


def labelled() -> list[dict]:
    """The labelled photos, with their country (EU: from the band code) and plate box."""
    eu = {r["IMG_ID"]: r["COUNTRY"] for r in csv.DictReader(open(EU_LABELS, newline=""))}
    rows = []
    for r in csv.DictReader(open(PLATES / "plates.csv", newline="")):
        truth = r["COUNTRY"] or eu.get(r["IMG_ID"], "")
        x, y, w, h = (int(r[k]) for k in "XYWH")
        rows.append({"image": r["IMG_ID"], "region": r["REGION"], "truth": truth, "plate": r["PLATE"],
                     "box": (x, y, x + w, y + h)})
    return rows


def read_plates(rows: list[dict], weights: str) -> None:
    """Step 1: the cue's plate search on each photo, appended to READS (photos already there kept)."""
    from geosleuth import Geolocator
    from geosleuth.config import load_config
    from geosleuth.cues.engines.detector import detect_objects
    from geosleuth.photo import Photo

    done = {json.loads(line)["image"] for line in READS.read_text().splitlines()} if READS.exists() else set()
    geo = Geolocator(load_config(sets=[f"detector.weights={weights}", "cues.detect.enabled=true"]))
    cue = next(c for c in geo.cues if c.name == "detect")
    OUTPUTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, open(READS, "a") as out:
        for row in rows:
            if row["image"] in done:
                continue
            photo = Photo.open(stripped(PLATES / "images" / row["image"], Path(tmp)))
            t = time.perf_counter()
            objects = detect_objects(photo, cue.detector) if cue.detector.available()[0] else None
            plates = cue.read_plates(photo, cue.ocr.crop_reader(), objects)
            seconds = time.perf_counter() - t
            out.write(json.dumps({"image": row["image"], "scale": photo.scale, "seconds": round(seconds, 3),
                                  "plates": [asdict(p) for p in plates]}) + "\n")
            out.flush()
            print(f"{row['image']}: {[p.text for p in plates]} {seconds:.1f}s", file=sys.stderr)


def country_posterior(clues: list, grid, log_prior: np.ndarray) -> np.ndarray:
    """p(country) from the plates' clues alone and the prior."""
    from geosleuth.cues.clues import clue_log_likelihood

    if not clues:
        return grid.country_probabilities(np.exp(log_prior))
    cell, given = clue_log_likelihood(clues, grid)
    post = log_prior + cell
    p = np.exp(post - post.max())
    return grid.country_probabilities(p / p.sum(), given)


def plate_reads(got: dict) -> list:
    from geosleuth.cues.detect import PlateRead

    return [PlateRead(**{**p, "box": tuple(p["box"]), "words": tuple(p["words"])}) for p in got["plates"]]


# The check of the plate model's trust settings: read right, on a plate, the shape's spread.
SETTINGS = {"read_right": (0.01, 0.05, 0.25), "on_vehicle": (0.6, 0.7, 0.8, 0.9, 0.95),
            "aspect_sigma": (0.15, 0.2, 0.3, 0.45)}
CONFIDENTLY_WRONG = 0.02


def check(rows: list[dict]) -> dict:
    """The settings checked out of region: for each region held out, the settings are chosen on the
    other two (no region's photos confidently wrong more than CONFIDENTLY_WRONG, then the best mean
    log-probability of the right country; if none qualifies, the fewest confidently wrong), and
    scored on the held-out one beside the shipped settings."""
    import itertools

    from geosleuth import Geolocator
    from geosleuth.cues import detect
    from geosleuth.cues.clues import plates as tables

    geo = Geolocator()
    grid, log_prior = geo.grid, geo.log_prior()
    reads = {r["image"]: r for r in map(json.loads, READS.read_text().splitlines())}
    rows = [r for r in rows if r["image"] in reads and r["truth"] in grid.countries]
    shipped = (tables.READ_RIGHT, detect.ON_PLATE[True], tables.ASPECT_LOG_SIGMA)
    saved = dict(detect.ON_PLATE)

    def outcomes(read_right: float, on_vehicle: float, sigma: float) -> dict[str, list[tuple[float, bool, bool]]]:
        tables.READ_RIGHT, tables.ASPECT_LOG_SIGMA = read_right, sigma
        detect.ON_PLATE.update({True: on_vehicle, None: on_vehicle - 0.15})
        out: dict[str, list[tuple[float, bool, bool]]] = {}
        for row in rows:
            countries = country_posterior([c for p in plate_reads(reads[row["image"]]) for c in detect.plate_clues(p)],
                                          grid, log_prior)
            k, top = grid.countries.index(row["truth"]), int(np.argmax(countries))
            out.setdefault(row["region"], []).append((float(np.log(max(countries[k], 1e-6))), top == k,
                                                      top != k and countries[top] >= 0.5))
        return out

    candidates = list(itertools.product(*SETTINGS.values()))
    try:
        results = {c: outcomes(*c) for c in set(candidates) | {shipped}}
    finally:
        tables.READ_RIGHT, tables.ASPECT_LOG_SIGMA = shipped[0], shipped[2]
        detect.ON_PLATE.update(saved)

    def rates(items: list[tuple[float, bool, bool]]) -> dict[str, float]:
        return {"right_country": round(float(np.mean([i[1] for i in items])), 3),
                "confidently_wrong": round(float(np.mean([i[2] for i in items])), 3)}

    folds = {}
    for held in ("BR", "US", "EU"):
        inner = [g for g in ("BR", "US", "EU") if g != held]
        worst = {c: max(rates(results[c][g])["confidently_wrong"] for g in inner) for c in candidates}
        fit = {c: float(np.mean([np.mean([i[0] for i in results[c][g]]) for g in inner])) for c in candidates}
        allowed = [c for c in candidates if worst[c] <= CONFIDENTLY_WRONG] or \
            [c for c in candidates if worst[c] == min(worst.values())]
        chosen = max(allowed, key=fit.get)
        folds[held] = {"chosen": dict(zip(SETTINGS, chosen)), "held_out": rates(results[chosen][held]),
                       "shipped": rates(results[shipped][held])}
    return {"shipped": dict(zip(SETTINGS, shipped)), "folds": folds}


def score(rows: list[dict]) -> dict:
    """Step 2: each photo's plates as the cue's clues, against the default prior, per region."""
    from geosleuth import Geolocator
    from geosleuth.cues.clues.plates import iou, normalise_plate
    from geosleuth.cues.detect import plate_clues

    geo = Geolocator()
    grid = geo.grid
    log_prior = geo.log_prior()
    reads = {r["image"]: r for r in map(json.loads, READS.read_text().splitlines())}
    per_region: dict[str, list[dict]] = {"BR": [], "US": [], "EU": []}
    for row in rows:
        if row["image"] not in reads:
            continue
        got = reads[row["image"]]
        plates = plate_reads(got)
        truth_box = tuple(v * got["scale"] for v in row["box"])
        best = max(plates, key=lambda p: iou(p.box, truth_box), default=None)
        found = best is not None and iou(best.box, truth_box) >= 0.5
        clues = [c for p in plates for c in plate_clues(p)]
        countries = country_posterior(clues, grid, log_prior)
        order = np.argsort(-countries)
        top, p_top = grid.countries[order[0]], float(countries[order[0]])
        labelled_aspect = (row["box"][2] - row["box"][0]) / (row["box"][3] - row["box"][1])
        states = [c.details.get("place") for c in clues if c.kind == "plate_print" and c.details.get("country") == "US"]
        per_region[row["region"]].append({
            "image": row["image"], "truth": row["truth"], "top": top, "p": round(p_top, 4), "sure": bool(p_top >= 0.5),
            "p_truth": round(float(countries[grid.countries.index(row["truth"])]), 4) if row["truth"] in grid.countries
            else None,
            "found": found, "read": found and best.text == normalise_plate(row["plate"]),
            "aspect": round(best.aspect, 2) if found else None, "labelled_aspect": round(labelled_aspect, 2),
            "plates": [p.text for p in plates], "state": states[0] if states else None, "seconds": got["seconds"]})
    summary = {}
    for region, items in per_region.items():
        scored = [r for r in items if r["truth"]]
        if not items:
            continue
        ratios = [np.log(r["aspect"] / r["labelled_aspect"]) for r in items if r["aspect"]]
        summary[region] = {
            "photos": len(items), "scored": len(scored),
            "found": round(float(np.mean([r["found"] for r in items])), 3),
            "read_exactly": round(float(np.mean([r["read"] for r in items])), 3),
            "aspect_log_error": {"median": round(float(np.median(ratios)), 3),
                                 "spread_mad": round(float(np.median(np.abs(ratios - np.median(ratios)))), 3)}
            if ratios else None,
            "right_country": round(float(np.mean([r["top"] == r["truth"] for r in scored])), 3) if scored else None,
            "confidently_wrong": round(float(np.mean([r["top"] != r["truth"] and r["sure"] for r in scored])), 3)
            if scored else None,
            "top_countries": dict(Counter(r["top"] for r in items).most_common(5)),
            "state_named": sum(r["state"] is not None for r in items),
            "seconds": ms([r["seconds"] for r in items]),
        }
    return {"summary": summary, "photos": per_region}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(YOLO))
    ap.add_argument("--limit", type=int, help="at most this many photos of each region")
    ap.add_argument("--fresh", action="store_true", help="read every photo again")
    ap.add_argument("--part", default="0/1", help="K/N: read only every N-th photo from the K-th (run N at once)")
    args = ap.parse_args(argv)
    if not (PLATES / "plates.csv").is_file():
        sys.exit(f"{PLATES} is missing")
    rows = [r for r in labelled() if r["region"] != "EU" or r["truth"]]
    if args.limit:
        rows = [r for region in ("BR", "US", "EU") for r in [r for r in rows if r["region"] == region][: args.limit]]
    if args.fresh and READS.exists():
        READS.unlink()
    k, n = (int(v) for v in args.part.split("/"))
    read_plates(rows[k::n], args.weights)
    if n > 1:
        return 0
    result = score(rows)
    write("plates", {**result["summary"], "check": check(rows)})
    (OUTPUTS / "plates_photos.json").write_text(json.dumps(result["photos"], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
