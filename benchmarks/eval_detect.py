"""The detect cue on the Im2GPS3k dev set: plate firing rate and precision, and whether COCO
objects carry geographic signal for held-out authors.

    python -m benchmarks.eval_detect [--weights PATH] [--limit N]

YOLO detections are cached in benchmarks/out/yolo_dev.jsonl and the text cue's OCR cache
(benchmarks/out/ocr_640.jsonl, from eval_text.py) is reused, so only the vehicle crops are read.
Objects: a per-class country likelihood is fitted on author fold 0 (classes seen in >= 5 photos,
smoothed towards the fold's country mix) and scored on fold 1 against the prior alone.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from geosleuth.config import load_config
from geosleuth.cues import create_cue
from geosleuth.cues.engines import Engines
from geosleuth.cues.engines.detector import Detection, detect_objects
from geosleuth.cues.engines.ocr import OcrEngine, TextRead
from geosleuth.labels import author_folds, read_labels
from geosleuth.fusion.combine import Term, fuse
from geosleuth.fusion.grid import CellGrid
from geosleuth.gazetteer import reverse_lookup
from geosleuth.photo import Photo

from benchmarks._metrics import distances, summarize
from benchmarks._replay import ReplayDetector, ReplayReader
from benchmarks._report import write
from benchmarks.paths import DEV, OUTPUTS, YOLO


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(YOLO))
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    labels = read_labels(DEV / "dev.csv")[: args.limit]
    true_cc = [p.country for p in reverse_lookup([lb.lat for lb in labels], [lb.lon for lb in labels])]
    grid = CellGrid.default()
    log_prior = grid.log_prior()
    engines = Engines.from_config(load_config(sets=[f"detector.weights={args.weights}"]))
    reader = ReplayReader(engines.ocr.readers[0])
    detector = ReplayDetector(engines.detector)
    cue = create_cue("detect", ocr=OcrEngine([reader]), detector=detector)
    ocr_cache = {}
    if (OUTPUTS / "ocr_640.jsonl").is_file():
        for line in (OUTPUTS / "ocr_640.jsonl").read_text().splitlines():
            row = json.loads(line)
            ocr_cache[row["image"]] = [TextRead(t, c, tuple(b), "easyocr") for t, c, b in row["reads"]]
    yolo_path = OUTPUTS / "yolo_dev.jsonl"
    yolo = {json.loads(x)["image"]: json.loads(x)["objects"] for x in yolo_path.read_text().splitlines()} \
        if yolo_path.is_file() else {}

    fired = claims = correct = 0
    objects_of: dict[str, list[str]] = {}
    with open(yolo_path, "a") as fh:
        for k, (lb, cc) in enumerate(zip(labels, true_cc)):
            photo = Photo.open(DEV / "images" / lb.image_id)
            detector.recorded = None
            if lb.image_id in yolo:
                dets = tuple(Detection(d[0], d[1], tuple(d[2])) for d in yolo[lb.image_id])
                detector.recorded = dets
            else:
                dets = detect_objects(photo, detector)
                fh.write(json.dumps({"image": lb.image_id, "objects": [[d.label, d.confidence, list(d.box)]
                                                                       for d in dets]}) + "\n")
            reader.replay(ocr_cache.get(lb.image_id, ()), photo.array().shape if lb.image_id in ocr_cache else None)
            objects_of[lb.image_id] = sorted({d.label for d in dets if d.confidence >= 0.4})
            out = cue.observe(photo, grid)
            if not out.abstained:
                fired += 1
                fusion = fuse(log_prior, {"detect": Term(out.log_likelihood, 1.0, cue.floor,
                                                         country_given_cell=out.country_given_cell)})
                cp = grid.country_probabilities(fusion.posterior, fusion.country_given_cell)
                j = int(np.argmax(cp))
                if cp[j] >= 0.5:
                    claims += 1
                    correct += grid.countries[j] == cc
            if k % 100 == 0:
                print(f"{k}/{len(labels)}", file=sys.stderr)

    # Objects: fit on fold 0, score on fold 1.
    fold = author_folds([lb.author for lb in labels], k=2)
    countries = list(grid.countries)
    cidx = {c: i for i, c in enumerate(countries)}
    base = np.full(len(countries), 1.0)
    for cc, f in zip(true_cc, fold):
        if f == 0 and cc in cidx:
            base[cidx[cc]] += 1
    base /= base.sum()
    per_class: dict[str, np.ndarray] = {}
    for cls in sorted({o for objs in objects_of.values() for o in objs}):
        counts = np.zeros(len(countries))
        for lb, cc, f in zip(labels, true_cc, fold):
            if f == 0 and cls in objects_of[lb.image_id] and cc in cidx:
                counts[cidx[cc]] += 1
        if counts.sum() >= 5:
            per_class[cls] = ((counts + 5 * base) / (counts.sum() + 5)) / base  # likelihood ratio by country
    held = [i for i, f in enumerate(fold) if f == 1]
    prior_best = int(np.argmax(log_prior))
    pts_prior, pts_obj = [], []
    for i in held:
        lb = labels[i]
        pts_prior.append((grid.lat[prior_best], grid.lon[prior_best]))
        ratios = [per_class[c] for c in objects_of[lb.image_id] if c in per_class]
        if not ratios:
            pts_obj.append(pts_prior[-1])
            continue
        ll = np.log(np.maximum(grid.cells_from_countries(np.prod(ratios, axis=0)), 1e-12))
        best = int(np.argmax(fuse(log_prior, {"objects": Term(ll, 1.0, 1e-3)}).posterior))
        pts_obj.append((grid.lat[best], grid.lon[best]))
    held_labels = [labels[i] for i in held]
    d_prior = distances(np.array([p[0] for p in pts_prior]), np.array([p[1] for p in pts_prior]), held_labels)
    d_obj = distances(np.array([p[0] for p in pts_obj]), np.array([p[1] for p in pts_obj]), held_labels)
    write("detect_eval", {
        "images": len(labels), "plates_fire": fired, "plates_fire_rate": round(fired / len(labels), 4),
        "plates_country_claims_p50": claims, "plates_country_precision": round(correct / claims, 4) if claims else None,
        "objects_classes_fitted_on_fold0": sorted(per_class),
        "objects_fold1": {"images": len(held), "prior_only": summarize(d_prior), "prior_plus_objects": summarize(d_obj)},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
