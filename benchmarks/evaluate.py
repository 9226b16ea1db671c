"""Evaluate a pipeline on a labelled image set (Im2GPS3k format).

    python -m benchmarks.evaluate --images DIR --labels CSV [--config NAME] [--set k=v] [--out DIR]

Writes predictions.csv, metrics.json and metrics.md to --out. Without --images/--labels it uses
../shared/data/im2gps3k-dev when present.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from geosleuth import Geolocator
from geosleuth.labels import read_labels
from geosleuth.gazetteer import reverse_lookup

from benchmarks._metrics import THRESHOLDS_KM, distances, summarize
from benchmarks.paths import DEV, OUTPUTS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEV / "images")
    ap.add_argument("--labels", type=Path, default=DEV / "dev.csv")
    ap.add_argument("--config", default="default")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--limit", type=int, help="only the first N labelled images")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUTPUTS / "evaluate")
    args = ap.parse_args(argv)

    labels = read_labels(args.labels)[: args.limit]
    geo = Geolocator.from_config(args.config, sets=args.sets)
    paths = [args.images / lb.image_id for lb in labels]
    start = time.perf_counter()
    preds, failures = [], []
    from tqdm import tqdm

    for lb, item in zip(labels, tqdm(geo.locate_many(paths, workers=args.workers), total=len(paths), file=sys.stderr,
                                        mininterval=2)):
        if item.ok:
            pred = item.prediction
            preds.append((lb, pred.best, next(iter(pred.countries), "")))
        else:
            failures.append((lb.image_id, item.error))
    elapsed = time.perf_counter() - start

    ok_labels = [lb for lb, _, _ in preds]
    lat = np.array([b.lat for _, b, _ in preds])
    lon = np.array([b.lon for _, b, _ in preds])
    d = distances(lat, lon, ok_labels)
    true_cc = [p.country for p in reverse_lookup([lb.lat for lb in ok_labels], [lb.lon for lb in ok_labels])]
    country_ok = np.array([b.country == cc for (_, b, _), cc in zip(preds, true_cc)])
    top_country_ok = np.array([c == cc for (_, _, c), cc in zip(preds, true_cc)])
    metrics = {"config": args.config, "sets": args.sets, "images": args.images.name, **summarize(d, country_ok),
               "country_acc_top_country": round(float(np.mean(top_country_ok) * 100), 2) if len(preds) else None,
               "failures": len(failures), "seconds_per_image": round(elapsed / max(len(labels), 1), 4)}

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["IMG_ID", "LAT", "LON", "COUNTRY", "PROBABILITY", "TRUE_LAT", "TRUE_LON", "DIST_KM"])
        for (lb, b, _), dist in zip(preds, d):
            w.writerow([lb.image_id, f"{b.lat:.6f}", f"{b.lon:.6f}", b.country, f"{b.probability:.6f}",
                        lb.lat, lb.lon, f"{dist:.2f}"])
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    head = " | ".join([f"{t} km" for t in THRESHOLDS_KM] + ["median km", "GeoScore", "country"])
    row = " | ".join([f"{metrics[f'acc_{t}km']}" for t in THRESHOLDS_KM]
                     + [str(metrics["median_km"]), str(metrics["geoscore"]), str(metrics.get("country_acc"))])
    (args.out / "metrics.md").write_text(f"config `{args.config}`, {metrics['n']} images\n\n| {head} |\n|"
                                         + "---|" * (len(THRESHOLDS_KM) + 3) + f"\n| {row} |\n")
    print(json.dumps(metrics, indent=2))
    for image_id, error in failures:
        print(f"failed: {image_id}: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
