"""How far to trust text clues (`cues.text.residual_scale`), chosen nested on the dev photos.

    python -m benchmarks.eval_text_trust [--folds 5]

A clue's likelihood is (1 - r)·s + (1 - (1 - r)·s)·f: `s` scales every clue's residual. The dev
photos' reads are replayed from eval_text.py's OCR cache (benchmarks/out/ocr_scripts.jsonl; run
it first), the text cue's likelihood is computed for each candidate `s`, fused with the shipped
prior at the text cue's shipped weight and floor, and scored as eval_prior.py scores a prior.
On each outer fold (5 author folds; then Europe, North America and the rest of the world) `s` is
chosen on the other folds: the best mean GeoScore among the values whose worst inner fold's 90 %
region holds ≥ 88 % of the photos and whose "country" claims there hold ≥ 90 % of the time.
Writes text_trust.json and .md to benchmarks/out/prior/.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from geosleuth import Geolocator
from geosleuth.cues import create_cue
from geosleuth.cues.engines.ocr import OcrEngine, TextRead
from geosleuth.cues.engines.script_reader import substantial
from geosleuth.fusion.calibration import CalibrationSet
from geosleuth.fusion.decision import geoscore
from geosleuth.geo import haversine_km
from geosleuth.labels import author_folds, read_labels
from geosleuth.photo import Photo

from benchmarks._replay import ReplayReader
from benchmarks.eval_prior import MIN_WORST_COVERAGE, OUT, region_folds, scores, stated
from benchmarks.nested import best_constant
from benchmarks.paths import DEV, OUTPUTS

MIN_COUNTRY_CLAIMS = 0.9  # a "country" confidence must hold this often
SCALES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)


def text_observations(grid, labels, scale: float, cache: dict[str, dict]) -> CalibrationSet:
    """The text cue's log-likelihood on each photo at residual scale `scale`, from replayed reads."""
    replay = ReplayReader()
    cue = create_cue("text", ocr=OcrEngine([replay]), reread_small=False, residual_scale=scale)
    ll = np.full((len(labels), len(grid)), np.nan, np.float32)
    for i, lb in enumerate(labels):
        reads = [TextRead(t, c, tuple(b), *rest) for t, c, b, *rest in cache[lb.image_id]["reads"]]
        replay.replay([r for r in reads if r.text and substantial(r.text, r.confidence)])
        out = cue.observe(Photo.open(np.zeros((8, 8, 3), np.uint8)), grid)  # a new photo: reads are memoised
        if not out.abstained:
            ll[i] = out.log_likelihood
    truth = grid.lookup([lb.lat for lb in labels], [lb.lon for lb in labels])
    return CalibrationSet([lb.image_id for lb in labels], truth, {"text": ll})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    cache_path = OUTPUTS / "ocr_scripts.jsonl"
    if not cache_path.is_file():
        sys.exit(f"{cache_path} is missing: run python -m benchmarks.eval_text first")
    cache = {row["image"]: row for row in map(json.loads, cache_path.read_text().splitlines())}
    geo = Geolocator.from_config("default")
    grid, prior = geo.grid, geo.log_prior()
    labels = [lb for lb in read_labels(DEV / "dev.csv") if lb.image_id in cache]
    lat, lon = np.array([lb.lat for lb in labels]), np.array([lb.lon for lb in labels])
    text = geo.config["cues"]["text"]
    rows = []
    for s in SCALES:
        obs = text_observations(grid, labels, s, cache)
        rows.append(scores(grid, prior, obs, {"text": (text["weight"], text["floor"])}, lat, lon))
        rows[-1]["level"], rows[-1]["held"] = stated(grid, prior, obs, {"text": (text["weight"], text["floor"])})
        print(f"residual scale {s}: GeoScore {rows[-1]['geoscore'].mean():.1f}, "
              f"90 % holds {rows[-1]['cover90'].mean():.3f}", file=sys.stderr)
    truth_folds = {"author": (author_folds([lb.author for lb in labels], args.folds), [str(k) for k in range(args.folds)]),
                   "region": region_folds(grid, labels, grid.lookup(lat, lon))}
    shipped = SCALES.index(text["residual_scale"]) if text["residual_scale"] in SCALES else 0
    report: dict = {"scales": SCALES, "shipped": text["residual_scale"], "schemes": {}}
    for scheme, (folds, names) in truth_folds.items():
        per_fold = []
        for k in np.unique(folds):
            test = folds == k
            inner = [f for f in np.unique(folds) if f != k]
            worst = np.array([min(r["cover90"][folds == f].mean() for f in inner) for r in rows])
            mean = np.array([r["geoscore"][~test].mean() for r in rows])
            claims = [r["held"][~test & (r["level"] == "country")] for r in rows]
            ok = (worst >= MIN_WORST_COVERAGE) & np.array([c.mean() >= MIN_COUNTRY_CLAIMS if len(c) else True
                                                           for c in claims])
            chosen = int(np.argmax(np.where(ok, mean, -np.inf))) if ok.any() else int(np.argmax(worst))
            point = best_constant(grid, lat[~test], lon[~test])
            per_fold.append({"fold": names[k], "photos": int(test.sum()), "chosen": SCALES[chosen],
                             "shipped_geoscore": round(float(rows[shipped]["geoscore"][test].mean()), 1),
                             "chosen_geoscore": round(float(rows[chosen]["geoscore"][test].mean()), 1),
                             "chosen_cover90": round(float(rows[chosen]["cover90"][test].mean() * 100), 1),
                             "best_constant": round(float(geoscore(haversine_km(point[0], point[1], lat[test],
                                                                                lon[test])).mean()), 1)})
        report["schemes"][scheme] = per_fold
    report["all_photos"] = {str(s): {"geoscore": round(float(r["geoscore"].mean()), 1),
                                     "cover90": round(float(r["cover90"].mean() * 100), 1),
                                     "levels": {lv: {"n": int((r["level"] == lv).sum()),
                                                     "right": int(r["held"][r["level"] == lv].sum())}
                                                for lv in sorted(set(r["level"].tolist()))}}
                            for s, r in zip(SCALES, rows)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "text_trust.json").write_text(json.dumps(report, indent=2))
    lines = []
    for scheme, per_fold in report["schemes"].items():
        lines += [f"## {scheme} folds", "", "| fold | photos | chosen scale | GeoScore shipped → chosen | best constant | 90 % holds |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {f['fold']} | {f['photos']} | {f['chosen']} | {f['shipped_geoscore']:,.1f} → {f['chosen_geoscore']:,.1f} | "
                  f"{f['best_constant']:,.1f} | {f['chosen_cover90']} |" for f in per_fold]
        lines.append("")
    lines.append(f"All photos, per scale (GeoScore, 90 % coverage, confidence levels stated and how often right): "
                 f"{report['all_photos']}")
    (OUT / "text_trust.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
