"""Author-grouped cross-validation of the visual + scene heads, through the real pipeline.

    python -m benchmarks.cv_visual [--folds 5] [--limit N] [--set k=v] [--train-only]

Features of the dev set are cached in benchmarks/out/cv_visual/. For each fold (authors hashed
into folds, so no photographer is on both sides), heads are trained on the other folds with
`train_heads` and the held-out photos are located by a `Geolocator` with the prior and the
visual and scene cues, as users run it; the same photos are also located with the prior alone,
and with a gallery of the training folds' photos for search within cells.
Writes cv_visual.json and cv_visual.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from geosleuth import Geolocator
from geosleuth.cues.engines.backbone import build_backbone
from geosleuth.cues.engines.gallery import Gallery
from geosleuth.cues.training.classifier import TrainSettings, extract_features, train_heads
from geosleuth.labels import author_folds, read_labels
from geosleuth.fusion.grid import CellGrid

from benchmarks._metrics import THRESHOLDS_KM, distances, summarize
from benchmarks.paths import DEV, OUTPUTS

OUT = OUTPUTS / "cv_visual"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEV / "images")
    ap.add_argument("--labels", type=Path, default=DEV / "dev.csv")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra pipeline overrides")
    args = ap.parse_args(argv)

    labels = read_labels(args.labels)[: args.limit]
    paths = [args.images / lb.image_id for lb in labels]
    grid = CellGrid.default()
    backbone = build_backbone("efficientnet_lite0", "embedded")
    features, ok = extract_features(backbone, paths, OUT / "features.npz")
    folds = author_folds([lb.author for lb in labels], args.folds)
    lat, lon = np.array([lb.lat for lb in labels]), np.array([lb.lon for lb in labels])
    scenes = np.array([lb.scene or (np.nan,) * 3 for lb in labels])

    found: dict[str, np.ndarray] = {k: np.zeros((len(labels), 2)) for k in ("prior", "visual", "visual+gallery")}
    seconds, calibration = [], []
    prior = Geolocator.from_config("prior-only")
    for k in range(args.folds):
        train, test = (folds != k) & ok, np.flatnonzero((folds == k) & ok)
        heads = train_heads(features[train], lat[train], lon[train], scenes[train], grid, TrainSettings(),
                            authors=[labels[i].author for i in np.flatnonzero(train)], progress=False,
                            meta={"backbone": {"name": "efficientnet_lite0", "weights": "embedded",
                                               "image_size": 224}})
        heads.save(OUT / f"heads_fold{k}.npz")
        calibration.append(heads.meta["calibration"])
        sets = ["cues.visual.enabled=true", "cues.scene.enabled=true", f"features.heads={OUT}/heads_fold{k}.npz"]
        geo = Geolocator.from_config("prior-only", sets=sets + args.sets)
        Gallery.from_features(features[train], lat[train], lon[train], [labels[i].image_id for i in np.flatnonzero(train)],
                              {"backbone": {"name": "efficientnet_lite0", "image_size": 224}}
                              ).save(OUT / f"gallery_fold{k}.npz")
        with_gallery = Geolocator.from_config("prior-only", sets=sets + args.sets
                                              + [f"cues.visual.gallery={OUT}/gallery_fold{k}.npz"])
        for i in test:
            for name, locator in (("prior", prior), ("visual", geo), ("visual+gallery", with_gallery)):
                start = time.perf_counter()
                best = locator.locate(paths[i]).best
                if name == "visual":
                    seconds.append(time.perf_counter() - start)
                found[name][i] = best.lat, best.lon
        print(f"fold {k}: {len(test)} held-out photos, temperature {heads.meta['calibration'].get('temperature')}",
              file=sys.stderr)

    keep = [lb for lb, good in zip(labels, ok) if good]
    result = {"images": int(ok.sum()), "folds": args.folds, "split": "crc32(AUTHOR) % folds",
              "settings": TrainSettings().__dict__, "calibration": calibration,
              "seconds_per_image": {"median": round(float(np.median(seconds)), 3),
                                    "p95": round(float(np.percentile(seconds, 95)), 3)}}
    for name, points in found.items():
        result[name] = summarize(distances(points[ok, 0], points[ok, 1], keep))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cv_visual.json").write_text(json.dumps(result, indent=2) + "\n")
    head = " | ".join(["pipeline"] + [f"{t} km" for t in THRESHOLDS_KM] + ["median km", "GeoScore"])
    rows = [" | ".join([name] + [str(result[name][f"acc_{t}km"]) for t in THRESHOLDS_KM]
                       + [str(result[name]["median_km"]), str(result[name]["geoscore"])]) for name in found]
    (OUT / "cv_visual.md").write_text(f"| {head} |\n|" + "---|" * (len(THRESHOLDS_KM) + 3) + "\n"
                                      + "".join(f"| {r} |\n" for r in rows))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
