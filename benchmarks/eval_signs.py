"""Text in every script: the rendered-sign suite (benchmarks/sign_suite.py) through the whole
default pipeline, and the text cue's latency on real photos.

    python -m benchmarks.eval_signs [--config default] [--set k=v] [--photos 60]

For each sign: the most probable country and its probability, right or wrong, the text cue's
seconds. Then the text cue's seconds on the first --photos dev photos (../shared), split by
whether it found text. Writes JSON to benchmarks/out/signs.json.
"""

from __future__ import annotations

import argparse
import statistics

from geosleuth.api import Geolocator

from benchmarks._report import write
from benchmarks.paths import DEV
from benchmarks.sign_suite import SIGNS, render


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="default")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--photos", type=int, default=60)
    args = ap.parse_args()
    geo = Geolocator.from_config(args.config, sets=args.sets)
    geo.locate(render(SIGNS[0], 0))  # load the models once
    rows = []
    for i, sign in enumerate(SIGNS):
        pred = geo.locate(render(sign, i))
        country, p = next(iter(pred.countries.items()))
        rows.append({"sign": i, "country": sign.country, "script": sign.script, "guess": country,
                     "p": round(p, 3), "right": country == sign.country,
                     "text_s": round(pred.timings.get("cue:text", 0.0), 3)})
        print(f"{i:2d} {sign.script} {sign.country} -> {country} {p:.2f} {'ok' if country == sign.country else 'WRONG'}"
              f"  {rows[-1]['text_s']:.2f}s  {' | '.join(sign.lines)}", flush=True)
    right = sum(r["right"] for r in rows)
    out: dict[str, object] = {
        "config": args.config, "sets": args.sets, "signs": len(rows), "scripts": len({r["script"] for r in rows}),
        "right": right, "right_share": round(right / len(rows), 3),
        "wrong_with_p_at_least_half": sum(1 for r in rows if not r["right"] and r["p"] >= 0.5),
        "text_s_median_signs": round(statistics.median(r["text_s"] for r in rows), 3), "rows": rows}
    images = DEV / "images"
    photos = sorted(images.glob("*.jpg"))[: args.photos] if images.is_dir() else []
    found, empty = [], []
    for path in photos:
        pred = geo.locate(path)
        text = pred.cues.get("text")
        if text is not None:
            (empty if text.note == "no text found" else found).append(pred.timings.get("cue:text", 0.0))
    if photos:
        out["dev_photos"] = len(photos)
        out["text_s_median_nothing_found"] = round(statistics.median(empty), 3) if empty else None
        out["text_s_median_text_found"] = round(statistics.median(found), 3) if found else None
        out["dev_photos_with_text"] = len(found)
    write("signs", {k: v for k, v in out.items() if k != "rows"} | {"rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
