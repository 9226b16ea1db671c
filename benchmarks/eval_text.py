"""The text cue on a labelled image set: OCR speed, firing rate, country precision, end-to-end gain.

    python -m benchmarks.eval_text [--images DIR --labels CSV] [--limit N] [--reader scripts|easyocr]
                                   [--canvas 640] [--observations NPZ]

OCR runs once per image and is cached in benchmarks/out/ocr_scripts.jsonl or ocr_<canvas>.jsonl
(EasyOCR), so analysis settings can be re-run without OCR. Reports:
- OCR seconds per image (median, p95) at the configured canvas;
- share of images where the cue fires (a likelihood, not an abstention);
- its country precision when the cue alone (with the photo-density prior) gives a country
  probability >= 0.5, and how many images that is;
- GeoScore and accuracy at 25 / 750 km of the prior-only pipeline vs prior + text cue (the
  expected-GeoScore answer, as shipped);
- the harvest: photos with any line read, with a clue, whose answer moved, and the GeoScore
  gained or lost on those; and, for 30 photos where a line was read but the answer did not
  move, what was read and which clues came of it (text_harvest.md).
Nothing here is fitted on the labels, so the numbers are over the whole set. For anything you
fit, use --fold to evaluate on one author-grouped half.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from geosleuth.config import load_config
from geosleuth.cues import create_cue
from geosleuth.cues.engines.ocr import EasyOcrBackend, OcrEngine, TextRead
from geosleuth.cues.engines.script_reader import ScriptReader, substantial
from geosleuth.labels import author_folds, read_labels
from geosleuth.fusion.calibration import CalibrationSet
from geosleuth.fusion.combine import Term, fuse
from geosleuth.fusion.decision import GeoScoreDecider
from geosleuth.fusion.grid import CellGrid
from geosleuth.gazetteer import reverse_lookup
from geosleuth.photo import Photo

from benchmarks._metrics import distances, summarize
from benchmarks._replay import ReplayReader
from benchmarks.nested import answer_points
from benchmarks.paths import DEV, OUTPUTS


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEV / "images")
    ap.add_argument("--labels", type=Path, default=DEV / "dev.csv")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--reader", choices=("scripts", "easyocr"), default="scripts")
    ap.add_argument("--canvas", type=int, default=640, help="EasyOCR's detector canvas")
    ap.add_argument("--observations", type=Path, help="also write the text cue's outputs as a CalibrationSet "
                    "(.npz), with the other cues' outputs of suite.py's cache, for nested.py --observations")
    ap.add_argument("--fold", type=int, choices=(0, 1), help="only authors of this hash fold")
    ap.add_argument("--without-word-lists", help="script models read without their word list, comma-separated "
                    "('' for none; default: the default config's ocr.without_word_lists)")
    ap.add_argument("--residual-scale", type=float, default=None, help="override cues.text.residual_scale")
    args = ap.parse_args()

    labels = read_labels(args.labels)[: args.limit]
    if args.fold is not None:
        labels = [lb for lb, fold in zip(labels, author_folds([lb.author for lb in labels], k=2)) if fold == args.fold]
    OUTPUTS.mkdir(exist_ok=True)
    cache_path = OUTPUTS / ("ocr_scripts.jsonl" if args.reader == "scripts" else f"ocr_{args.canvas}.jsonl")
    cache: dict[str, dict] = {}
    if cache_path.is_file():
        for line in cache_path.read_text().splitlines():
            row = json.loads(line)
            cache[row["image"]] = row
    lean = load_config("default")["ocr"]["without_word_lists"] if args.without_word_lists is None else \
        [m for m in args.without_word_lists.split(",") if m]
    backend = (ScriptReader(without_word_lists=lean) if args.reader == "scripts"
               else EasyOcrBackend(canvas_size=args.canvas))
    with open(cache_path, "a") as fh:
        for k, lb in enumerate(labels):
            if lb.image_id in cache:
                continue
            photo = Photo.open(args.images / lb.image_id)
            t = time.perf_counter()
            reads = backend.read(photo.array())
            row = {"image": lb.image_id, "seconds": time.perf_counter() - t,
                   "reads": [[r.text, r.confidence, list(r.box), r.backend, r.script] for r in reads]}
            if k == 0:
                row["seconds_includes_model_load"] = True
            cache[lb.image_id] = row
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            if k % 50 == 0:
                print(f"ocr {k}/{len(labels)}", file=sys.stderr)

    grid = CellGrid.default()
    log_prior = grid.log_prior()
    # The cache holds first-pass reads, so the upscaled re-reads are off here (bench_text_latency.py times them).
    replay = ReplayReader()
    cue = create_cue("text", ocr=OcrEngine([replay]), reread_small=False,
                     **({} if args.residual_scale is None else {"residual_scale": args.residual_scale}))
    true_cc = [p.country for p in reverse_lookup([lb.lat for lb in labels], [lb.lon for lb in labels])]
    decider = GeoScoreDecider.for_grid(grid)
    at = answer_points(grid)
    prior_cell = decider.decide(np.exp(log_prior - np.logaddexp.reduce(log_prior))).cell
    fired = claims = correct = 0
    moved, still = [], []  # rows whose answer moved; (row, reads, clues) read but not moved
    text_ll = np.full((len(labels), len(grid)), np.nan, np.float32)
    prior_pts, text_pts = [], []
    kinds: dict[str, int] = {}
    analysis_s = []
    for row, (lb, cc) in enumerate(zip(labels, true_cc)):
        reads = [TextRead(t, c, tuple(b), *rest) if rest else TextRead(t, c, tuple(b), "easyocr")
                 for t, c, b, *rest in cache[lb.image_id]["reads"]]
        if args.reader == "scripts":  # what the reader keeps now (the cache may predate a filter)
            reads = [r for r in reads if r.text and substantial(r.text, r.confidence)]
        replay.replay(reads)
        t = time.perf_counter()
        out = cue.observe(Photo.open(np.zeros((8, 8, 3), np.uint8)), grid)
        analysis_s.append(time.perf_counter() - t)
        prior_pts.append(tuple(at[prior_cell]))
        if out.abstained:
            text_pts.append(prior_pts[-1])
            if reads:
                still.append((lb.image_id, [r.text for r in reads], [out.note]))
            continue
        fired += 1
        text_ll[row] = out.log_likelihood
        for e in out.evidence:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        fusion = fuse(log_prior, {"text": Term(out.log_likelihood, cue.weight, cue.floor,
                                               country_given_cell=out.country_given_cell)})
        post = fusion.posterior
        best = decider.decide(post).cell
        text_pts.append(tuple(at[best]))
        if best != prior_cell:
            moved.append(row)
        else:
            still.append((lb.image_id, [r.text for r in reads],
                          [f"{e.kind} ({e.confidence}): {e.summary}" for e in out.evidence if e.kind != "ocr"]))
        country_p = grid.country_probabilities(post, fusion.country_given_cell)
        j = int(np.argmax(country_p))
        if country_p[j] >= 0.5:
            claims += 1
            correct += grid.countries[j] == cc

    ocr_s = sorted(r["seconds"] for lb in labels for r in [cache[lb.image_id]] if not r.get("seconds_includes_model_load"))
    d_prior = distances(np.array([p[0] for p in prior_pts]), np.array([p[1] for p in prior_pts]), labels)
    d_text = distances(np.array([p[0] for p in text_pts]), np.array([p[1] for p in text_pts]), labels)
    report = {
        "images": len(labels), "fold": args.fold, "canvas": args.canvas, "residual_scale": cue.residual_scale,
        "ocr_seconds": {"median": round(statistics.median(ocr_s), 3), "p95": round(ocr_s[int(0.95 * (len(ocr_s) - 1))], 3),
                        "n": len(ocr_s)},
        "analysis_ms_median": round(statistics.median(analysis_s) * 1000, 2),
        "images_with_text": sum(1 for lb in labels if cache[lb.image_id]["reads"]),
        "fires": fired, "fire_rate": round(fired / len(labels), 4),
        "country_claims_p50": claims, "country_precision": round(correct / claims, 4) if claims else None,
        "evidence_kinds": kinds,
        "prior_only": summarize(d_prior), "prior_plus_text": summarize(d_text),
        "harvest": {"photos": len(labels), "any_line_read": sum(1 for lb in labels if cache[lb.image_id]["reads"]),
                    "a_clue": fired, "answer_moved": len(moved),
                    "geoscore_on_moved": {"prior": summarize(d_prior[moved])["geoscore"] if moved else None,
                                          "prior_plus_text": summarize(d_text[moved])["geoscore"] if moved else None}},
    }
    lines = ["# Photos where a line was read and the answer did not move (first 30)", ""]
    for image, texts, why in still[:30]:
        lines += [f"- {image}: read {texts}", *(f"  - {w}" for w in why or ["no clue"])]
    (OUTPUTS / "text_harvest.md").write_text("\n".join(lines) + "\n")
    if args.observations:  # the suite's cue outputs with this text cue's in place of the cached one
        base = CalibrationSet.load(OUTPUTS / "suite" / "observations.npz")
        rows = {image: i for i, image in enumerate(base.image_ids)}
        for lb, ll in zip(labels, text_ll):
            if lb.image_id in rows:
                base.loglik["text"][rows[lb.image_id]] = ll
        base.save(args.observations)
        print(f"wrote {args.observations}", file=sys.stderr)
    name = f"text_eval{'' if args.fold is None else f'_fold{args.fold}'}.json"
    (OUTPUTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
