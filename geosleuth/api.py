"""The public entry points: `Geolocator` and `locate`."""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np
from tqdm import tqdm

from geosleuth.cache import shared
from geosleuth.config import Config, load_config
from geosleuth.cues.base import Cue
from geosleuth.cues.engines import Engines
from geosleuth.cues.registry import create_cue
from geosleuth.errors import ConfigError, GeosleuthError, UsageError
from geosleuth.fusion.calibration import CalibrationSet
from geosleuth.fusion.grid import CellGrid, load_grid
from geosleuth.fusion.prior import log_prior
from geosleuth.hints import Hint
from geosleuth.memory import release_memory
from geosleuth.photo import ImageInput, Photo
from geosleuth.preflight import check_named_models
from geosleuth.observation import Observation
from geosleuth.pipeline import decoded_together, observe, observe_hints, predict, prepare
from geosleuth.results import Prediction

T = TypeVar("T")


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


class Geolocator:
    """The pipeline: photo -> cues -> fusion -> `Prediction`.

    `config` is a shipped config name ('default', 'prior-only', ...), a YAML path or a mapping
    over the defaults (`load_config`); `cues` replace the configured ones.

    The config's shared models (`ocr`, `detector`, `features`) are built once here as `engines`
    and handed to the cues that use them; cues passed in directly keep their own. A model or
    file setting changed from the default must be usable here (`preflight`), unless
    `check_models` is false (`geosleuth cues`, which reports what is missing).

    >>> geo = Geolocator.from_config("prior-only", output={"top_k": 3})
    >>> len(geo.locate(example_image()).top_k)
    3
    """

    def __init__(self, config: str | Path | Mapping[str, Any] = "default", *, cues: Sequence[Cue] | None = None,
                 grid: CellGrid | str | None = None, check_models: bool = True) -> None:
        self.config: Config = load_config(config)
        self._grid_spec = grid if grid is not None else self.config["grid"]
        self._grid: CellGrid | None = None
        self.engines = Engines.from_config(self.config)
        if check_models:
            check_named_models(self.config, self.engines)
        self.cues: list[Cue] = list(cues) if cues is not None else self._cues_from_config()
        for cue in self.cues:
            if not isinstance(cue, Cue):
                raise ConfigError(f"{cue!r} is not a cue: it needs name, weight, floor, available, observe "
                                  "and review (subclass geosleuth.cues.BaseCue)")

    @classmethod
    def from_config(cls, config: str | Path | Mapping[str, Any] = "default", *, sets: Sequence[str] = (),
                    check_models: bool = True, **overrides: Any) -> "Geolocator":
        """Build from a shipped config name, a YAML path or a dict, with keyword overrides."""
        return cls(load_config(config, overrides=overrides, sets=tuple(sets)), check_models=check_models)

    def _cues_from_config(self) -> list[Cue]:
        from geosleuth.cues.recorded import recorded_experts

        return [create_cue(name, self.engines, **{k: v for k, v in section.items() if k != "enabled"})
                for name, section in self.config["cues"].items() if section["enabled"]] \
            + recorded_experts(self.config["experts"])

    @property
    def grid(self) -> CellGrid:
        if self._grid is None:
            self._grid = load_grid(self._grid_spec)
        return self._grid

    def log_prior(self) -> np.ndarray:
        """The configured prior over the grid's cells (log)."""
        prior = self.config["prior"]
        if prior["kind"] == "uniform":
            return np.full(len(self.grid), -np.log(len(self.grid)))
        return self.grid.memo(f"prior {sorted(prior.items())}", lambda: log_prior(
            self.grid, prior["smoothing"], prior["exponent"], prior["population"], prior["land"]))

    def open(self, image: ImageInput) -> Photo:
        """An input decoded under the config's image limits."""
        limits = self.config["image"]
        photo = Photo.open(image, max_pixels=limits["max_pixels"], max_side=limits["max_side"])
        if photo.scale < 1:
            release_memory()  # the full-size pixels decoded (without: up to 140 MB more at the next peak)
        return photo

    def locate(self, image: ImageInput, *, hints: Sequence[Hint] = ()) -> Prediction:
        """Locate one image (path, bytes, PIL image, numpy array or `Photo`); analyst `hints`
        (`Hint.parse("country=FR")`) are fused as extra likelihood terms and reported like cues."""
        start = time.perf_counter()
        photo = self.open(image)
        decoded = time.perf_counter() - start
        said = self.observe(photo)
        timings = {"decode": decoded, **{f"cue:{o.name}": o.seconds for o in said}}
        out = self.config["output"]
        prediction = predict(self.grid, self.log_prior(), said + observe_hints(hints, photo, self.grid),
                             image=photo.id, image_size=photo.original_size, output=out, timings=timings,
                             started=start)
        release_memory()  # this photo's passing arrays, before the next photo's
        return prediction

    def observe(self, photo: Photo) -> tuple[Observation, ...]:
        """Every configured cue's observation of a photo (ok | abstained | failed, with seconds),
        in config order; a cue that raises is reported as failed, never re-raised."""
        return observe(self.cues, photo, self.grid)

    @property
    def cue_settings(self) -> dict[str, tuple[float, float]]:
        """Each configured cue's (weight, floor), in config order."""
        return {cue.name: (cue.weight, cue.floor) for cue in self.cues}

    def locate_many(self, images: Iterable[ImageInput], *, workers: int | None = None,
                    hints: Sequence[Hint] = (), stop: threading.Event | None = None) -> Iterator[BatchItem]:
        """Locate many images, streaming results in input order; a bad input becomes a failed item.
        Inputs are decoded `batch.size` at a time and the image models run on each batch at once
        (one per worker at a time when no cue runs such a model).
        Once `stop` is set, images not yet started are left out and the batch ends after the
        ones in progress."""
        if isinstance(images, (str, bytes, os.PathLike)):
            raise UsageError("locate_many takes a list of images; for one image use locate()")
        if workers is None:
            workers = self.config["batch"]["workers"]
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
        stop = stop or threading.Event()
        _ = self.grid  # load once, before threads start

        def safely(src: ImageInput, work: Callable[[], Any]) -> Any:
            label = _label(src)
            try:
                return work()
            except GeosleuthError as exc:
                return BatchItem(label, error=str(exc))
            except Exception as exc:  # an unexpected bug in one image must not end the batch
                return BatchItem(label, error=f"{label}: unexpected {type(exc).__name__}: {exc}")

        def one(src: ImageInput, photo: Photo | BatchItem) -> BatchItem | None:
            if isinstance(photo, BatchItem):  # could not be decoded: reported even when stopping
                return photo
            if stop.is_set():
                return None
            return safely(src, lambda: BatchItem(_label(src), prediction=self.locate(photo, hints=hints)))

        with ThreadPoolExecutor(max_workers=workers) as pool:  # bounded: one batch in memory
            for chunk in _batches(images, decoded_together(self.cues, self.config["batch"]["size"], workers)):
                if stop.is_set():
                    return
                photos = list(pool.map(lambda src: safely(src, lambda: self.open(src)), chunk))
                prepare(self.cues, [p for p in photos if isinstance(p, Photo)])
                yield from (item for item in pool.map(one, chunk, photos) if item is not None)

    def calibration_set(self, paths: Sequence[Path], truth: np.ndarray, *, progress: bool = True,
                        on_error: Callable[[Path, Exception], None] | None = None) -> CalibrationSet:
        """Run every configured cue on each labelled photo once (as `locate` would) and keep what
        each said, for calibration (`truth`: the index of each photo's true cell). Photos that
        cannot be decoded are dropped and reported through `on_error`."""
        names = list(self.cue_settings)
        n_cells = len(self.grid)
        loglik = {k: np.full((len(paths), n_cells), np.nan, np.float32) for k in names}
        seconds = {k: np.zeros(len(paths)) for k in names}
        ok = np.zeros(len(paths), bool)
        bar = tqdm(total=len(paths), desc="cues", unit="img", file=sys.stderr, disable=not progress)
        for batch in _batches(range(len(paths)), decoded_together(self.cues, self.config["batch"]["size"])):
            photos = {}
            for i in batch:
                try:
                    photos[i] = self.open(paths[i])
                except GeosleuthError as exc:
                    if on_error:
                        on_error(paths[i], exc)
            prepare(self.cues, list(photos.values()))
            for i, photo in photos.items():
                ok[i] = True
                for said in self.observe(photo):
                    seconds[said.name][i] = said.seconds
                    if said.status == "ok":
                        loglik[said.name][i] = said.output.log_likelihood
            bar.update(len(batch))
        bar.close()
        ids = [Path(p).name for p in paths]
        return CalibrationSet(ids, np.asarray(truth), loglik, seconds).subset(ok)


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _label(src: Any) -> str:
    return str(src) if isinstance(src, (str, Path)) else f"<{type(src).__name__}>"


def locate(image: ImageInput, config: str | Path | Mapping[str, Any] = "default", **overrides: Any) -> Prediction:
    """One-off use: `geosleuth.locate("photo.jpg")`. Reuses one pipeline per config name."""
    if isinstance(config, str) and not overrides:
        return shared(("geolocator", config), lambda: Geolocator.from_config(config)).locate(image)
    return Geolocator.from_config(config, **overrides).locate(image)
