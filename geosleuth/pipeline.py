"""The pipeline: what each cue (or hint, or album photo) said about a photo, fused into a
`Prediction`. `Geolocator.locate`, `locate_album` and calibration all go through here.

    observations = observe(cues, photo, grid) + observe_hints(hints, photo, grid)
    prediction = predict(grid, log_prior, observations, ...)
"""

from __future__ import annotations

import time
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from geosleuth.cues.base import Cue, CueOutput, Evidence
from geosleuth.fusion.combine import Term, fuse
from geosleuth.interpret import interpret
from geosleuth.observation import Observation
from geosleuth.results import Prediction

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.hints import Hint
    from geosleuth.photo import Photo


def observe(cues: Sequence[Cue], photo: "Photo", grid: "CellGrid") -> tuple[Observation, ...]:
    """Every cue's output on a photo, in order; a cue that raises or returns something malformed
    is reported as failed, never re-raised."""
    out = []
    for cue in cues:
        t0 = time.perf_counter()
        try:
            said = cue.observe(photo, grid)
            _check_output(said, grid)
        except Exception as exc:  # a cue never crashes the pipeline
            said, status = CueOutput.abstain(f"{type(exc).__name__}: {exc}"), "failed"
        else:
            status = "abstained" if said.abstained else "ok"
        out.append(Observation(cue.name, said, status, cue.weight, cue.floor, time.perf_counter() - t0, cue))
    return tuple(out)


def decoded_together(cues: Sequence[Cue], size: int, workers: int = 1) -> int:
    """How many photos to decode at once: the config's `batch.size` when a cue runs a model on
    several at once (`batches`), else one per worker, so that a batch holds no idle working copy."""
    return size if any(cue.batches for cue in cues) else workers


def prepare(cues: Sequence[Cue], photos: Sequence["Photo"]) -> None:
    """Let cues with a batched model (`prepare`, see `BaseCue`) run it on many photos at once;
    what they compute is memoised on the photos. A failure here is left for `observe` to meet
    again and report on each photo."""
    for cue in cues:
        if len(photos) > 1:
            try:
                cue.prepare(photos)
            except Exception:  # reported per photo by observe
                pass


def observe_hints(hints: Sequence["Hint"], photo: "Photo | None", grid: "CellGrid") -> tuple[Observation, ...]:
    """Analyst hints as observations, fused and reported like cues."""
    said = [(hint, hint.observe(photo, grid)) for hint in hints]
    return tuple(Observation(hint.name, out, "abstained" if out.abstained else "ok", hint.weight, hint.floor)
                 for hint, out in said)


def predict(grid: "CellGrid", log_prior: np.ndarray, observations: Sequence[Observation], *, image: str,
            image_size: tuple[int, int], output: Mapping[str, Any], timings: Mapping[str, float],
            started: float, warnings: Sequence[str] = ()) -> Prediction:
    """Fuse the observations that spoke with the prior, let their cues cross-check each other,
    and build the `Prediction` (`interpret`) as the config's `output` section asks; `timings` gain "fusion"
    (fusion and the result) and "total" (since `started`)."""
    t0 = time.perf_counter()
    spoke = [o for o in observations if o.spoke]
    fusion = fuse(log_prior, {o.name: Term(o.output.log_likelihood, o.weight, o.floor, o.output.country_given_cell)
                              for o in spoke})
    reviews = {o.name: _review(o, fusion.effective, grid) for o in spoke if o.cue is not None}
    prediction = interpret(grid, fusion, observations, reviews, image=image, image_size=image_size, output=output,
                           warnings=warnings)
    done = time.perf_counter()
    return replace(prediction, timings=MappingProxyType({**timings, "fusion": done - t0, "total": done - started}))


def _review(own: Observation, effective: Mapping[str, np.ndarray], grid: "CellGrid") -> tuple[Evidence, ...]:
    """The cue's cross-check of what the others added to the posterior (e.g. EXIF GPS vs text)."""
    others = {k: v for k, v in effective.items() if k != own.name}
    try:
        return tuple(own.cue.review(own.output, others, grid))
    except Exception as exc:
        return (Evidence("review", f"cross-check failed: {type(exc).__name__}: {exc}", 0.0),)


def _check_output(out: CueOutput, grid: "CellGrid") -> None:
    n_cells, n_pairs = len(grid), len(grid.share_cell)
    if not isinstance(out, CueOutput):
        raise TypeError(f"observe() returned {type(out).__name__}, expected CueOutput")
    if out.log_likelihood is None:
        return
    ll = np.asarray(out.log_likelihood)
    if ll.shape != (n_cells,):
        raise ValueError(f"log-likelihood has shape {ll.shape}, expected ({n_cells},)")
    if np.isnan(ll).any() or not np.isfinite(ll).any() or np.isposinf(ll).any():
        raise ValueError("log-likelihood must be finite or -inf, with at least one finite value")
    if out.country_given_cell is not None and np.asarray(out.country_given_cell).shape != (n_pairs,):
        raise ValueError("country_given_cell must have one value per pair of the grid's share table")
