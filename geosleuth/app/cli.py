"""Command line: `geosleuth locate | serve | cues | config show | calibrate | train-detector |
train-classifier | gallery build | cells build | cells info`.

Exit codes: 0 success, 1 a failure (some image could not be located), 2 usage or config error.
Each command imports the parts of the library it uses when it runs, so `--help` and the light
commands start fast; the training modules load only for the commands that train.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence, TextIO

from geosleuth import __version__
from geosleuth.app.outputs import CSV_COLUMNS, check_output, csv_rows
from geosleuth.cues.training import TrainSettings
from geosleuth.errors import ConfigError, GeosleuthError
from geosleuth.libraries import contain

if TYPE_CHECKING:
    from geosleuth.api import BatchItem, Geolocator
    from geosleuth.results import Prediction

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class Interruption:
    """The first SIGINT or SIGTERM of a batch: `stop` is set, `signal` names it."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signal: str | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.stop.is_set():  # the second one: stop at once
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        self.stop.set()
        print(f"geosleuth: {self.signal}: finishing the photos in progress (send it again to stop now)",
              file=sys.stderr)


@contextmanager
def stop_on_signals() -> Iterator[Interruption]:
    """SIGINT and SIGTERM during a batch: the first lets the photos in progress finish (their rows
    are written), a second stops at once (KeyboardInterrupt)."""
    interruption = Interruption()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield interruption
        return
    previous = {sig: signal.signal(sig, interruption) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interruption
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="geosleuth", description="Where was this photo taken?")
    p.add_argument("--version", action="version", version=f"geosleuth {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def config_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", default="default", help="shipped config name or YAML path (default: default)")
        sp.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set output.top_k=10 or "
                             "--set 'ocr.backends=[easyocr,tesseract]' (repeatable)")

    def expert_option(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--expert", dest="experts", action="append", default=[], metavar="FILE.csv",
                        help="another tool's answers, replayed as a cue: IMG_ID,LAT,LON[,PLACE,CONFIDENCE,"
                             "EVIDENCE_COUNT] keyed by file name (repeatable)")

    loc = sub.add_parser("locate", help="locate images (no argument: the bundled example image)")
    loc.add_argument("images", nargs="*", metavar="IMG_OR_DIR")
    loc.add_argument("--top-k", type=int, help="number of candidates")
    out = loc.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the prediction as JSON (JSON lines for batches)")
    out.add_argument("--geojson", action="store_true", help="print a GeoJSON FeatureCollection per image: the "
                     "answer and candidates as points, each cell of the credible region with its probability")
    loc.add_argument("--indent", type=int, metavar="N", help="pretty-print --json / --geojson with N spaces "
                     "(default: compact; a single image's --json is indented by 2)")
    loc.add_argument("--csv", metavar="OUT", help=f"write {','.join(CSV_COLUMNS)} rows to OUT")
    loc.add_argument("--workers", type=int, help="parallel workers for batches")
    loc.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report (one image or --album)")
    loc.add_argument("--album", metavar="DIR", help="photos taken in one place: one joint answer for all of them")
    loc.add_argument("--hint", action="append", default=[], metavar="country=CC",
                     help="analyst hint, fused like a cue: country=FR (repeatable)")
    loc.add_argument("--exclude", action="append", default=[], metavar="country=CC", help="rule a country out (softly)")
    loc.add_argument("--shadow", action="append", default=[], metavar="AZIMUTH[,ELEVATION]",
                     help="shadows in the photo point to AZIMUTH degrees (clockwise from north), the sun "
                          "ELEVATION degrees high: with the EXIF time, where the sun stood so")
    loc.add_argument("--near", action="append", default=[], metavar="LAT,LON,RADIUS_KM",
                     help="taken within about RADIUS_KM of a point")
    config_options(loc)
    expert_option(loc)

    srv = sub.add_parser("serve", help="local web app: upload a photo, get the report (needs geosleuth[serve])")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--max-upload-mb", type=float, default=20.0, help="largest accepted upload (default 20)")
    config_options(srv)

    cues = sub.add_parser("cues", help="list the cues and the shared models (ocr, detector, features), and whether "
                                       "they can run here")
    config_options(cues)
    expert_option(cues)

    cfg = sub.add_parser("config", help="configuration")
    cfg_sub = cfg.add_subparsers(dest="action", required=True)
    show = cfg_sub.add_parser("show", help="print the effective config")
    config_options(show)
    expert_option(show)

    train = sub.add_parser("train-detector", help="train a YOLO detector (plates, signs) on a dataset YAML")
    train.add_argument("data", metavar="DATA.yaml", help="an Ultralytics dataset file (images + YOLO labels)")
    train.add_argument("--model", default="yolov8n.yaml",
                       help="architecture YAML (from scratch) or weights to fine-tune (default yolov8n.yaml)")
    train.add_argument("--epochs", type=int, default=50)
    train.add_argument("--imgsz", type=int, default=640)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--device", help="cpu, or a GPU index such as 0 (default: GPU when present)")
    train.add_argument("--out", default="runs/geosleuth", help="output folder (default runs/geosleuth)")
    train.add_argument("--name", default="detector")

    def visual_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--images", required=True, type=Path, help="folder of the images named in the labels")
        sp.add_argument("--labels", required=True, type=Path, help="CSV: IMG_ID,LAT,LON[,AUTHOR,S3_Label,...]")
        sp.add_argument("--backbone", default="efficientnet_lite0", help="timm model name (default efficientnet_lite0)")
        sp.add_argument("--backbone-weights", default="embedded",
                        help="embedded (EfficientNet-Lite0), pretrained (timm download) or a weights path")
        sp.add_argument("--image-size", type=int, default=224)
        sp.add_argument("--no-progress", action="store_true")

    tc = sub.add_parser("train-classifier", help="train the visual cell and scene heads on geotagged images")
    visual_options(tc)
    tc.add_argument("--grid", default="default", help="cell grid: default or a grid .npz")
    tc.add_argument("--out", type=Path, default=Path("runs/classifier"),
                    help="output folder: features cache, checkpoint, heads.npz (default runs/classifier); "
                         "rerun with the same --out to resume")
    tc.add_argument("--finetune-epochs", type=int, default=None,
                    help="fine-tune the backbone end to end for this many epochs (default: 3 with a GPU, 0 without)")
    for field in dataclasses.fields(TrainSettings):
        tc.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default,
                        help=f"(default {field.default})")

    cal = sub.add_parser("calibrate", help="fit each cue's weight and floor on labelled photos; a cue that does not raise "
                         "GeoScore out of author fold gets weight 0")
    cal.add_argument("--images", required=True, type=Path, help="folder of the images named in the labels")
    cal.add_argument("--labels", required=True, type=Path, help="CSV: IMG_ID,LAT,LON[,AUTHOR,...]")
    cal.add_argument("--folds", type=int, default=5, help="cross-validation folds, split by AUTHOR (default 5)")
    cal.add_argument("--out", type=Path, default=Path("calibrated.yaml"), help="config written (default calibrated.yaml)")
    cal.add_argument("--cache", type=Path, help="what each cue said on each photo (.npz), reused when present")
    cal.add_argument("--no-progress", action="store_true")
    config_options(cal)
    expert_option(cal)

    gal = sub.add_parser("gallery", help="reference galleries for retrieval within cells")
    gal_sub = gal.add_subparsers(dest="action", required=True)
    gb = gal_sub.add_parser("build", help="build a gallery from geotagged images")
    gb.add_argument("images_dir", type=Path, metavar="DIR")
    gb.add_argument("labels_csv", type=Path, metavar="LABELS.csv")
    gb.add_argument("--out", type=Path, default=Path("gallery.npz"))
    gb.add_argument("--backbone", default="efficientnet_lite0")
    gb.add_argument("--backbone-weights", default="embedded")
    gb.add_argument("--image-size", type=int, default=224)
    gb.add_argument("--no-progress", action="store_true")

    cells = sub.add_parser("cells", help="the cell grid")
    cells_sub = cells.add_subparsers(dest="action", required=True)
    build = cells_sub.add_parser("build", help="build an adaptive S2 grid from a LAT,LON CSV")
    build.add_argument("coords", metavar="COORDS.csv")
    build.add_argument("--t-max", type=int, default=80, help="split cells holding more photos (default 80)")
    build.add_argument("--t-min", type=int, default=5, help="keep split-off children with at least this many (default 5)")
    build.add_argument("--max-level", type=int, default=13, help="finest S2 level (default 13, about 1 km)")
    build.add_argument("--hierarchy", default="16,4", help="t_max factors of the coarse and middle levels (default 16,4)")
    build.add_argument("--out", default="grid.npz", help="output file (default grid.npz)")
    info = cells_sub.add_parser("info", help="describe a grid and its provenance")
    info.add_argument("grid", nargs="?", default="default")
    return p


@contextmanager
def results_only_on_stdout() -> Iterator[TextIO]:
    """Stdout for geosleuth's results alone. While a command runs, anything else written to stdout
    (a library's print or banner, a C library's printf) goes to stderr; the stream yielded writes
    to the real stdout."""
    previous = results = sys.stdout
    results.flush()
    try:
        real = results.fileno() == 1
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (captured in tests)
        real = False
    if real:
        results = open(os.dup(1), "w", buffering=1, encoding=results.encoding, errors=results.errors)
        os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield results
    finally:
        sys.stdout = previous
        if real:
            _flush_c_stdout()  # what C code buffered for stdout goes to stderr, where it was written
            try:
                results.flush()
            except BrokenPipeError:  # whoever read stdout stopped (`| head`): drop the rest quietly
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, results.fileno())
                os.close(devnull)
            os.dup2(results.fileno(), 1)
            results.close()


def _flush_c_stdout() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to ask (Windows)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    contain()
    with results_only_on_stdout() as out:
        return _run(args, out)


def _run(args: argparse.Namespace, out: TextIO) -> int:
    """The command, its errors said in one line on stderr with the exit code they deserve."""
    try:
        command = {"locate": _locate, "serve": _serve, "cues": _cues, "config": _config_show,
                   "train-detector": _train_detector, "train-classifier": _train_classifier,
                   "calibrate": _calibrate, "gallery": _gallery_build,
                   "cells": lambda a, o: (_cells_build if a.action == "build" else _cells_info)(a, o)}[args.command]
        return command(args, out)
    except ConfigError as exc:
        print(f"geosleuth: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except GeosleuthError as exc:
        print(f"geosleuth: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # whoever read stdout stopped (`| head`): stop quietly, as other tools do
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug: one line, not a traceback (GEOSLEUTH_DEBUG=1 shows it)
        if os.environ.get("GEOSLEUTH_DEBUG"):
            raise
        print(f"geosleuth: internal error: {type(exc).__name__}: {exc} (run with GEOSLEUTH_DEBUG=1 for the "
              "traceback, and please report it)", file=sys.stderr)
        return EXIT_FAILURE


def _config(args: argparse.Namespace, sets: Sequence[str] | None = None) -> dict:
    """The command's config: --config, then each --set, with each --expert added to `experts`."""
    from geosleuth.config import load_config

    config = load_config(args.config, sets=tuple(args.sets if sets is None else sets))
    config["experts"] = [*config["experts"], *args.experts]
    return config


def _locate(args: argparse.Namespace, out: TextIO) -> int:
    from geosleuth.api import Geolocator, example_image
    from geosleuth.app.inputs import expand_inputs
    from geosleuth.hints import parse_hints

    sets = list(args.sets)
    if args.top_k is not None:
        sets.append(f"output.top_k={args.top_k}")
    if args.workers is not None:
        sets.append(f"batch.workers={args.workers}")
    hints = parse_hints(args.hint, args.exclude, args.near, args.shadow)
    if args.album:
        inputs = expand_inputs([args.album, *args.images])
    elif args.images:
        inputs = expand_inputs(args.images)
    else:
        inputs = expand_inputs([example_image()])
    if args.report and not args.album and len(inputs.files) > 1:  # before any model loads
        raise ConfigError("--report takes one image (or --album DIR for photos taken in one place)")
    for target, what in ((args.csv, "--csv"), (args.report, "--report")):
        if target:
            check_output(target, inputs.files, what)
    geo = Geolocator(_config(args, sets))
    if not args.images and not args.album:
        print(f"geosleuth: no image given, locating the bundled example {inputs.ids[0]}", file=sys.stderr)
    for path, why in inputs.skipped:
        print(f"geosleuth: skipped {path}: {why}", file=sys.stderr)
    if not inputs.files:
        print(f"geosleuth: error: no image files found{f' in {args.album}' if args.album else ''}", file=sys.stderr)
        return EXIT_FAILURE
    if args.album:
        return _album(args, geo, hints, inputs.files, out)
    from tqdm import tqdm

    files, image_id = inputs.files, dict(zip(inputs.files, inputs.ids))
    batch = len(files) > 1
    failures = done = 0
    with csv_rows(args.csv) as write_csv, stop_on_signals() as interruption:
        bar = tqdm(total=len(files), unit="img", file=sys.stderr, disable=not batch, desc="locating")
        try:
            for item in geo.locate_many(files, hints=hints, stop=interruption.stop):
                done += 1
                bar.update(1)
                if write_csv:
                    write_csv(image_id.get(item.source, Path(item.source).name), item.prediction)
                if not item.ok:
                    failures += 1
                    bar.set_postfix(failed=failures)
                    bar.clear()
                    print(f"geosleuth: failed: {item.error}", file=sys.stderr)
                    if args.json or args.geojson:
                        print(json.dumps({"image": item.source, "error": item.error}), file=out)
                    continue
                _show(args, item, geo, batch, write_csv is not None, bar, out)
        except KeyboardInterrupt:  # a second signal, or Ctrl-C outside the handler
            interruption.signal = interruption.signal or "SIGINT"
        bar.close()
    if interruption.signal:
        kept = f"; {args.csv} holds the rows of all {done}" if args.csv else ""
        print(f"geosleuth: interrupted ({interruption.signal}) after {done} of {len(files)} images{kept}",
              file=sys.stderr)
        return 128 + signal.Signals[interruption.signal].value
    if failures:
        print(f"geosleuth: {failures} of {len(files)} images failed", file=sys.stderr)
    return EXIT_FAILURE if failures else EXIT_OK


def _show(args: argparse.Namespace, item: "BatchItem", geo: "Geolocator", batch: bool, to_csv: bool, bar,
          out: TextIO) -> None:
    """One located image on stdout (text, JSON or GeoJSON) and in the HTML report if asked."""
    pred = item.prediction
    if args.report:
        from geosleuth.app.report import write_report

        write_report(args.report, pred, [(item.source, pred)], max_side=geo.config["image"]["max_side"])
        print(f"geosleuth: wrote report {args.report}", file=sys.stderr)
    if args.json:
        print(pred.to_json(indent=args.indent if args.indent is not None else None if batch else 2), file=out)
    elif args.geojson:
        print(json.dumps(pred.to_geojson(), indent=args.indent, ensure_ascii=False, separators=_separators(args)),
              file=out)
    elif not to_csv:
        bar.clear()
        print(pred.explain() + ("\n" if batch else ""), file=out)


def _separators(args: argparse.Namespace) -> tuple[str, str] | None:
    """JSON separators: none of json's spaces when compact."""
    return None if args.indent is not None else (",", ":")


def _album(args: argparse.Namespace, geo: "Geolocator", hints: list, files: list[str], out: TextIO) -> int:
    from geosleuth.album import locate_album

    result = locate_album(geo, files, hints=hints, name=Path(args.album).name or str(args.album))
    for item in result.failed:
        print(f"geosleuth: failed: {item.error}", file=sys.stderr)
    pred = result.prediction
    if args.report:
        from geosleuth.app.report import write_report

        photos = [(it.source, it.prediction) for it in result.photos if it.ok]
        write_report(args.report, pred, photos, max_side=geo.config["image"]["max_side"])
        print(f"geosleuth: wrote report {args.report}", file=sys.stderr)
    with csv_rows(args.csv) as write_csv:
        if write_csv:
            write_csv(pred.image, pred)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), file=out)
    elif args.geojson:
        print(json.dumps(pred.to_geojson(), indent=args.indent, ensure_ascii=False, separators=_separators(args)),
              file=out)
    elif not args.csv:
        print(pred.explain(), file=out)
    if result.failed:
        print(f"geosleuth: {len(result.failed)} of {len(files)} images failed", file=sys.stderr)
    return EXIT_FAILURE if result.failed else EXIT_OK


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from geosleuth.app.server import serve

    serve(host=args.host, port=args.port, config=args.config, sets=args.sets,
          max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    return EXIT_OK


def _cues(args: argparse.Namespace, out: TextIO) -> int:
    """One line per cue (on or off in the config) and one per shared engine, each saying whether
    it can run here and why not; built as `Geolocator` builds them, so the config's settings apply."""
    from geosleuth.api import Geolocator
    from geosleuth.cues.engines import Engines
    from geosleuth.cues.registry import create_cue, list_cues
    from geosleuth.config import setting
    from geosleuth.preflight import unusable

    geo = Geolocator(_config(args), check_models=False)  # it reports what is missing
    on = {cue.name: cue for cue in geo.cues}
    sections = geo.config["cues"]
    cues = [on[name] if name in on else  # an off cue is built the same way, to say whether it could run
            create_cue(name, geo.engines, **{k: v for k, v in sections.get(name, {}).items() if k != "enabled"})
            for name in list_cues()] + [cue for cue in geo.cues if cue.name not in list_cues()]  # recorded experts
    if not cues:
        print("no cues installed: the pipeline runs on the photo-density prior alone", file=out)
    engines = {name: _availability(getattr(geo.engines, name)) for name in Engines.names()}
    for cue in cues:
        ok, note = _availability(cue)
        lacking = [name for name, (there, _) in engines.items() if not there
                   and vars(cue).get(name) is getattr(geo.engines, name)]
        state = "unavailable" if not ok else "partly" if lacking else "available"  # runs without one of its models
        why_off = "" if cue.name in on else cue.why_off
        print(f"{cue.name:<10} {state:<12} {'on' if cue.name in on else 'off':<4} {note}"
              + (f" ({why_off})" if why_off else ""), file=out)
    for name, (ok, note) in engines.items():
        users = [cue.name for cue in cues if vars(cue).get(name) is getattr(geo.engines, name)]
        print(f"{name:<10} {'present' if ok else 'missing':<12} {'':<4} {note}"
              + (f" (used by {', '.join(users)})" if users else ""), file=out)
    for cue in cues:
        for name, (key, how) in cue.optional_models().items():
            value = setting(geo.config, key)
            why = unusable(key, geo.config, geo.engines) if value else ""
            state = "not configured" if not value else "missing" if why else "present"
            said = f"{key}: {how}" if not value else f"{value}: {why}" if why else value
            print(f"{name:<14} {state:<14} {said} (for {cue.name})", file=out)
    return EXIT_OK


def _availability(thing: object) -> tuple[bool, str]:
    """`thing.available()`, a failure in it reported as unavailable."""
    try:
        return thing.available()  # type: ignore[attr-defined]
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _config_show(args: argparse.Namespace, out: TextIO) -> int:
    import yaml

    print(yaml.safe_dump(_config(args), sort_keys=False), end="", file=out)
    return EXIT_OK


def _train_detector(args: argparse.Namespace, out: TextIO) -> int:
    from geosleuth.cues.training.detector import train_detector

    best = train_detector(args.data, model=args.model, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                          device=args.device, out=args.out, name=args.name)
    print(f"trained weights: {best}\nuse them with --set cues.detect.plate_weights={best}", file=out)
    return EXIT_OK


def _train_classifier(args: argparse.Namespace, out: TextIO) -> int:
    from geosleuth.cues.engines.heads import CellHeads
    from geosleuth.cues.training.classifier import train_classifier
    from geosleuth.fusion.grid import load_grid

    settings = TrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)})
    path = train_classifier(args.images, args.labels, args.out, load_grid(args.grid), args.backbone,
                            args.backbone_weights, args.image_size, settings, args.finetune_epochs,
                            progress=not args.no_progress)
    weights = CellHeads.load(path).meta["backbone"]["weights"]
    sets = [f"--set features.{key}={value}" for key, value in (("heads", path), ("backbone", args.backbone),
                                                                ("weights", weights), ("image_size", args.image_size))]
    print(f"trained heads: {path}\nuse them with " + " ".join(sets), file=out)
    return EXIT_OK


def _calibrate(args: argparse.Namespace, out: TextIO) -> int:
    import numpy as np

    from geosleuth.api import Geolocator
    from geosleuth.cues.clues.expert import ExpertCue, ExpertSettings, fit_errors, out_of_fold_log_likelihoods
    from geosleuth.cues.recorded import RecordedExpert
    from geosleuth.fusion.calibration import CalibrationSet, calibrate, settings_yaml
    from geosleuth.labels import author_folds, read_labels

    labels = read_labels(args.labels)
    geo = Geolocator(_config(args))
    if not geo.cue_settings:
        raise ConfigError("no cue is enabled in this config: nothing to calibrate")
    experts = [cue for cue in geo.cues if isinstance(cue, ExpertCue)]
    for expert in experts:
        expert.keep_answers()
    if args.cache and args.cache.is_file():
        obs = CalibrationSet.load(args.cache)
        if set(obs.loglik) != set(geo.cue_settings):
            raise ConfigError(f"{args.cache} holds cues {sorted(obs.loglik)}, the config has "
                              f"{sorted(geo.cue_settings)}: use another --cache")
    else:
        truth = geo.grid.lookup([lb.lat for lb in labels], [lb.lon for lb in labels])
        obs = geo.calibration_set([args.images / lb.image_id for lb in labels], truth, progress=not args.no_progress,
                                  on_error=lambda path, exc: print(f"geosleuth: skipped {path}: {exc}", file=sys.stderr))
        if args.cache:
            obs.save(args.cache)
    author = {lb.image_id: lb.author or lb.image_id for lb in labels}
    folds = author_folds([author[i] for i in obs.image_ids], args.folds)
    if len(np.unique(folds)) < 2:
        raise ConfigError("calibration needs photos from at least two authors (folds)")
    by_id = {lb.image_id: lb for lb in labels}
    lat, lon = (np.array([getattr(by_id[i], k) for i in obs.image_ids]) for k in ("lat", "lon"))
    errors = {}
    for expert in experts:  # its errors: judged out of author fold, then fitted on every photo
        answers = [expert.answer(i) for i in obs.image_ids]
        if not any(answers):  # a model not asked again (--cache): its errors stay as they were
            errors[expert.name] = dict(expert.settings.errors)
            continue
        obs.loglik[expert.name] = out_of_fold_log_likelihoods(geo.grid, answers, lat, lon, folds,
                                                              expert.settings.floor)
        errors[expert.name] = fit_errors(geo.grid, answers, lat, lon)
    start = {**geo.cue_settings, **{e.name: (1.0, e.floor) for e in experts}}
    cal = calibrate(geo.log_prior(), obs, folds, start, geo.grid, frozen={e.name for e in experts})
    record = {"labels": args.labels.name, "photos": len(obs.truth), "authors": len(set(author.values())),
              "folds": f"{args.folds} (crc32 of AUTHOR)", "base config": args.config,
              "out-of-fold GeoScore, prior only": round(cal.prior_geoscore, 1),
              "out-of-fold GeoScore, every cue that spoke": round(cal.geoscore, 1),
              "out-of-fold GeoScore gain per cue (None: never spoke)":
                  {c: None if g is None else round(g, 1) for c, g in cal.gain.items()}}
    expert_files, written = [], {}
    for expert in experts:  # one settings file each, named in the config written
        path = args.out.with_name(f"{args.out.stem}.{expert.name.removeprefix('expert:')}.yaml").resolve()
        fitted = f"geosleuth calibrate on {args.labels.name} ({len(obs.truth)} photos, {args.folds} author folds)"
        path.write_text(ExpertSettings(errors[expert.name], cal.settings[expert.name][0], expert.settings.floor,
                                       fitted).to_yaml(record))
        written[expert.name] = str(path)
        if isinstance(expert, RecordedExpert):
            expert_files.append({"file": str(expert.path.resolve()), "settings": str(path)})
    recorded = {e.name for e in experts if isinstance(e, RecordedExpert)}
    args.out.write_text(settings_yaml({k: v for k, v in cal.settings.items() if k not in recorded}, record,
                                      expert_files, {k: v for k, v in written.items() if k not in recorded}))
    for name, (weight, floor) in cal.settings.items():
        gain = cal.gain[name]
        judged = "never spoke: kept as configured" if gain is None else f"out-of-fold GeoScore gain {gain:+.1f}"
        print(f"{name:10s} weight {start[name][0]:g} -> {weight:g}   floor {start[name][1]:.0e} -> {floor:.0e}   "
              f"({judged})", file=out)
    print(f"out-of-fold GeoScore: prior only {cal.prior_geoscore:.1f}, with the cues {cal.geoscore:.1f} "
          f"({len(obs.truth)} photos, {args.folds} author folds)\nwrote {args.out}"
          + "".join(f" and {path}" for path in written.values()) + f"; use it with --config {args.out}", file=out)
    return EXIT_OK


def _gallery_build(args: argparse.Namespace, out: TextIO) -> int:
    from geosleuth.cues.training.classifier import build_gallery

    gallery = build_gallery(args.images_dir, args.labels_csv, args.out, args.backbone, args.backbone_weights,
                            args.image_size, progress=not args.no_progress)
    print(f"wrote {args.out}: {len(gallery)} photos\nuse it with --set cues.visual.gallery={args.out}", file=out)
    return EXIT_OK


def _cells_build(args: argparse.Namespace, out: TextIO) -> int:
    from geosleuth.fusion.grid import build_grid, read_coordinates

    try:
        factors = tuple(int(f) for f in args.hierarchy.split(","))
    except ValueError:
        raise ConfigError(f"--hierarchy expects two integers like 16,4, got {args.hierarchy!r}") from None
    if len(factors) != 2 or min(factors) < 1:
        raise ConfigError(f"--hierarchy expects two integers >= 1 like 16,4, got {args.hierarchy!r}")
    lat, lon, digest = read_coordinates(args.coords)
    grid = build_grid(lat, lon, t_max=args.t_max, t_min=args.t_min, max_level=args.max_level, hierarchy=factors,
                      source=Path(args.coords).name, source_sha256=digest)
    grid.meta["command"] = (f"geosleuth cells build {Path(args.coords).name} --t-max {args.t_max} "
                            f"--t-min {args.t_min} --max-level {args.max_level} --hierarchy {args.hierarchy}")
    grid.save(args.out)
    print(f"wrote {args.out}: {grid!r} from {grid.meta['photos']} photos", file=out)
    return EXIT_OK


def _cells_info(args: argparse.Namespace, out: TextIO) -> int:
    from geosleuth.fusion.grid import load_grid

    grid = load_grid(args.grid)
    print(repr(grid), file=out)
    print(json.dumps(grid.meta, indent=2, sort_keys=True), file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
