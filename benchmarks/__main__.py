"""The benchmarks in the order their outputs feed one another.

    python -m benchmarks --list             the steps in order, with what each reads of an earlier one
    python -m benchmarks STEP [STEP ...]    these steps, in the order of the list
    python -m benchmarks --all              every step

Each step is one script run in its own process (`python -m benchmarks.SCRIPT ARGS`), so that
its timings and peak memory are its own; the run stops at the first step that fails. Run a
script yourself for other arguments.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass

from benchmarks.paths import REPO


@dataclass(frozen=True)
class Step:
    name: str
    args: tuple[str, ...] = ()
    reads: str = ""  # what it reads of an earlier step's output
    script: str = ""  # benchmarks.<script>, where it is not the step's name

    def command(self) -> list[str]:
        return [sys.executable, "-m", f"benchmarks.{self.script or self.name}", *self.args]


STEPS = (
    Step("cv_visual"),
    Step("suite", reads="cv_visual's heads, each trained without one author fold"),
    Step("nested", reads="suite's cached cue outputs"),
    Step("eval_text"),
    Step("eval_text_trust", reads="eval_text's OCR cache, out/ocr_scripts.jsonl"),
    Step("eval_text_easyocr", ("--reader", "easyocr"), script="eval_text"),
    Step("eval_detect", reads="eval_text_easyocr's OCR cache, out/ocr_640.jsonl"),
    Step("eval_experts"),
    Step("eval_prior", reads="eval_experts' cached observations of the default cues"),
    Step("evaluate", ("--config", "prior-only")),
    Step("eval_signs"),
    Step("eval_plates"),
    Step("eval_plate_countries"),
    Step("eval_detect_default", reads="eval_experts' cached observations of the default cues"),
    Step("compare_language_id"),
    Step("bench_speed"),
    Step("bench_exif"),
    Step("bench_text_latency"),
    Step("bench_detect"),
    Step("bench_visual"),
    Step("bench_clip_backends"),
    Step("bench_vlm"),
    Step("bench_pipeline"),
    Step("bench_memory"),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", nargs="*", metavar="STEP", help="a step's name, as --list prints it")
    ap.add_argument("--list", action="store_true", help="print the steps in order and run nothing")
    ap.add_argument("--all", action="store_true", help="run every step")
    args = ap.parse_args(argv)
    if args.list:
        for n, s in enumerate(STEPS, 1):
            reads = f"  (reads {s.reads})" if s.reads else ""
            print(f"{n:2d}. {s.name:20s} python {' '.join(s.command()[1:])}{reads}")
        return 0
    unknown = set(args.steps) - {s.name for s in STEPS}
    if unknown or args.all == bool(args.steps):
        ap.error(f"no step {', '.join(sorted(unknown))}" if unknown else "name the steps to run, or --all")
    chosen = [s for s in STEPS if args.all or s.name in args.steps]
    for n, s in enumerate(chosen, 1):
        print(f"== {n}/{len(chosen)} {s.name}", file=sys.stderr, flush=True)
        done = subprocess.run(s.command(), cwd=REPO)
        if done.returncode:
            print(f"{s.name} failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
