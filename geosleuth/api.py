"""The public entry points: `Geolocator` and `locate`."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from geosleuth.config import Config, load_config
from geosleuth.cues.base import Cue, CueOutput, Evidence
from geosleuth.cues.registry import create_cue
from geosleuth.errors import GeosleuthError
from geosleuth.fusion.combine import Term, fuse
from geosleuth.fusion.grid import CellGrid, load_grid
from geosleuth.hints import Hint, apply_hints
from geosleuth.photo import IMAGE_SUFFIXES, ImageInput, Photo
from geosleuth.results import CueReport, Prediction, build_prediction


def example_image() -> str:
    """Path of the bundled example photo (a rendered street scene the project owns)."""
    return str(resources.files("geosleuth") / "data" / "example_street.jpg")


@dataclass(frozen=True)
class BatchItem:
    """One input of a batch: its prediction, or the reason it failed."""

    source: str
    prediction: Prediction | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.prediction is not None


@dataclass(frozen=True)
class _CueSlot:
    cue: Cue
    weight: float
    floor: float


class Geolocator:
    """The pipeline: photo -> cues -> fusion -> `Prediction`.

    >>> geo = Geolocator.from_config("prior-only", output={"top_k": 3})
    >>> len(geo.locate(example_image()).top_k)
    3
    """

    def __init__(self, config: Mapping[str, Any] | None = None, *, cues: Sequence[Cue] | None = None,
                 grid: CellGrid | str | None = None) -> None:
        self.config: Config = load_config(config if config is not None else "default")
        self._grid_spec = grid if grid is not None else self.config["grid"]
        self._grid: CellGrid | None = None
        self._slots = [_CueSlot(c, getattr(c, "default_weight", 1.0), getattr(c, "default_floor", 1e-3))
                       for c in cues] if cues is not None else self._cues_from_config()

    @classmethod
    def from_config(cls, config: str | Path | Mapping[str, Any] = "default", *, sets: Sequence[str] = (),
                    **overrides: Any) -> "Geolocator":
        """Build from a shipped config name, a YAML path or a dict, with keyword overrides."""
        return cls(load_config(config, overrides=overrides, sets=tuple(sets)))

    def _cues_from_config(self) -> list[_CueSlot]:
        slots = []
        for name, section in self.config["cues"].items():
            if not section.get("enabled", True):
                continue
            params = {k: v for k, v in section.items() if k not in ("enabled", "weight", "floor")}
            cue = create_cue(name, **params)
            slots.append(_CueSlot(cue, section.get("weight", cue.default_weight), section.get("floor", cue.default_floor)))
        return slots

    @property
    def grid(self) -> CellGrid:
        if self._grid is None:
            self._grid = load_grid(self._grid_spec)
        return self._grid

    @property
    def cues(self) -> list[Cue]:
        return [s.cue for s in self._slots]

    def log_prior(self) -> np.ndarray:
        """The configured prior over the grid's cells (log)."""
        prior = self.config["prior"]
        if prior["kind"] == "uniform":
            return np.full(len(self.grid), -np.log(len(self.grid)))
        return self.grid.log_prior(prior["smoothing"])

    def locate(self, image: ImageInput, *, hints: Sequence[Hint] = ()) -> Prediction:
        """Locate one image (path, bytes, PIL image, numpy array or `Photo`); analyst `hints`
        (`Hint.parse("country=FR")`) are fused as extra likelihood terms and reported like cues."""
        start = time.perf_counter()
        photo = Photo.open(image, max_pixels=self.config["image"]["max_pixels"],
                           max_side=self.config["image"]["max_side"])
        timings = {"decode": time.perf_counter() - start}
        grid = self.grid
        reports: dict[str, CueReport] = {}
        terms: dict[str, Term] = {}
        outputs: dict[str, CueOutput] = {}
        for slot, (out, status, seconds) in zip(self._slots, self.observe(photo)):
            name = slot.cue.name
            timings[f"cue:{name}"] = seconds
            reports[name] = CueReport(name=name, status=status, note=out.note, evidence=out.evidence,
                                      seconds=seconds, weight=slot.weight)
            if status == "ok" and slot.weight > 0:
                terms[name] = Term(out.log_likelihood, slot.weight, slot.floor, out.training_prior)
                outputs[name] = out
        apply_hints(hints, photo, grid, reports, terms)  # analyst hints: likelihood terms, reported like cues
        t0 = time.perf_counter()
        fusion = fuse(self.log_prior(), terms)
        self._cross_check(outputs, fusion.effective, reports, grid)
        out_cfg = self.config["output"]
        points = [p for out in outputs.values() for p in out.points]
        prediction = build_prediction(grid=grid, fusion=fusion, reports=reports, image=photo.id,
                                      image_size=photo.original_size, top_k=out_cfg["top_k"],
                                      mass=out_cfg["credible_mass"], timings={}, points=points)
        timings["fusion"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - start
        return replace(prediction, timings=MappingProxyType(timings))

    def observe(self, photo: Photo) -> list[tuple[CueOutput, str, float]]:
        """Every configured cue's output on a photo, with its status (ok | abstained | failed)
        and seconds, in config order; a cue that raises is reported as failed, never re-raised."""
        results = []
        for slot in self._slots:
            t0 = time.perf_counter()
            try:
                out = slot.cue.observe(photo, self.grid)
                _check_output(out, len(self.grid))
            except Exception as exc:  # a cue never crashes the pipeline
                out, status = CueOutput.abstain(f"{type(exc).__name__}: {exc}"), "failed"
            else:
                status = "abstained" if out.abstained else "ok"
            results.append((out, status, time.perf_counter() - t0))
        return results

    @property
    def cue_settings(self) -> dict[str, tuple[float, float]]:
        """Each configured cue's (weight, floor), in config order."""
        return {slot.cue.name: (slot.weight, slot.floor) for slot in self._slots}

    def _cross_check(self, outputs: dict[str, CueOutput], effective: dict[str, np.ndarray],
                     reports: dict[str, CueReport], grid: CellGrid) -> None:
        """Let each cue that spoke review what the others said (e.g. EXIF GPS vs text)."""
        for slot in self._slots:
            name = slot.cue.name
            review = getattr(slot.cue, "review", None)
            if name not in outputs or review is None:
                continue
            try:
                extra = tuple(review(outputs[name], {k: v for k, v in effective.items() if k != name}, grid))
            except Exception as exc:
                extra = (Evidence("review", f"cross-check failed: {type(exc).__name__}: {exc}", 0.0),)
            if extra:
                reports[name] = replace(reports[name], evidence=reports[name].evidence + extra)

    def locate_many(self, images: Iterable[ImageInput], *, workers: int | None = None,
                    hints: Sequence[Hint] = ()) -> Iterator[BatchItem]:
        """Locate many images, streaming results in input order; a bad input becomes a failed item."""
        workers = workers or self.config["batch"]["workers"]
        _ = self.grid  # load once, before threads start

        def one(src: ImageInput) -> BatchItem:
            label = _label(src)
            try:
                return BatchItem(label, prediction=self.locate(src, hints=hints))
            except GeosleuthError as exc:
                return BatchItem(label, error=str(exc))
            except Exception as exc:  # an unexpected bug in one image must not end the batch
                return BatchItem(label, error=f"{label}: unexpected {type(exc).__name__}: {exc}")

        if workers == 1:
            yield from map(one, images)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: list[Any] = []
            for src in images:
                pending.append(pool.submit(one, src))
                if len(pending) >= 2 * workers:  # bounded window: streaming, bounded memory
                    yield pending.pop(0).result()
            for fut in pending:
                yield fut.result()


def _label(src: Any) -> str:
    return str(src) if isinstance(src, (str, Path)) else f"<{type(src).__name__}>"


def _check_output(out: CueOutput, n_cells: int) -> None:
    if not isinstance(out, CueOutput):
        raise TypeError(f"observe() returned {type(out).__name__}, expected CueOutput")
    if out.log_likelihood is None:
        return
    ll = np.asarray(out.log_likelihood)
    if ll.shape != (n_cells,):
        raise ValueError(f"log-likelihood has shape {ll.shape}, expected ({n_cells},)")
    if np.isnan(ll).any() or not np.isfinite(ll).any() or np.isposinf(ll).any():
        raise ValueError("log-likelihood must be finite or -inf, with at least one finite value")
    if out.training_prior is not None and np.asarray(out.training_prior).shape != (n_cells,):
        raise ValueError("training_prior must be a distribution over the grid's cells")


def expand_inputs(paths: Iterable[str | Path]) -> tuple[list[str], list[str]]:
    """Files to locate from paths and directories (recursively, image suffixes), and what was skipped."""
    files, skipped = [], []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    (files if f.suffix.lower() in IMAGE_SUFFIXES else skipped).append(str(f))
        else:
            files.append(str(p))  # missing or odd files are reported by locate, not dropped here
    return files, skipped


_DEFAULT: dict[str, Geolocator] = {}


def locate(image: ImageInput, config: str | Path | Mapping[str, Any] = "default", **overrides: Any) -> Prediction:
    """One-off use: `geosleuth.locate("photo.jpg")`. Reuses one pipeline per config name."""
    if isinstance(config, str) and not overrides:
        if config not in _DEFAULT:
            _DEFAULT[config] = Geolocator.from_config(config)
        return _DEFAULT[config].locate(image)
    return Geolocator.from_config(config, **overrides).locate(image)
