"""Fitting each cue's weight and floor on labelled photos, with author-grouped cross-validation.

The score is the mean log posterior probability of the true cell (a proper scoring rule), computed
with the same floored, tempered pooling as `fuse`, vectorised over photos. Each cue's (weight,
floor) is chosen on a grid by coordinate ascent; cues that abstain on a photo add nothing there.

`calibrate` is the whole recipe: a cue is kept only if, fitted without an author fold, it raised
that fold's GeoScore; a cue that cannot be judged (it never spoke) keeps its configured settings.
Measure the recipe itself with folds outside it (`benchmarks/nested.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterable, Mapping, Sequence

import numpy as np

from geosleuth.fusion.combine import floored, log_normalise
from geosleuth.fusion.decision import GeoScoreDecider, geoscore
from geosleuth.fusion.region import credible_cells
from geosleuth.geo import haversine_km

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
FLOORS = (1e-6, 1e-4, 1e-3, 1e-2, 0.1)
Settings = dict[str, tuple[float, float]]  # cue -> (weight, floor)


@dataclass
class CalibrationSet:
    """Each cue's log-likelihood on each labelled photo (NaN rows where it abstained or failed)."""

    image_ids: list[str]
    truth: np.ndarray  # (n,) index of the true cell
    loglik: dict[str, np.ndarray]  # cue -> (n, cells) float32
    seconds: dict[str, np.ndarray] = field(default_factory=dict)  # cue -> (n,) observe time

    def save(self, path: str | Path) -> None:
        arrays = {f"ll_{k}": v.astype(np.float16) for k, v in self.loglik.items()}
        arrays.update({f"s_{k}": v for k, v in self.seconds.items()})
        with open(path, "wb") as fh:
            np.savez(fh, image_ids=np.array(self.image_ids), truth=self.truth, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "CalibrationSet":
        with np.load(path, allow_pickle=False) as z:
            ll = {k[3:]: z[k].astype(np.float32) for k in z.files if k.startswith("ll_")}
            sec = {k[2:]: z[k] for k in z.files if k.startswith("s_")}
            return cls(z["image_ids"].tolist(), z["truth"], ll, sec)

    def subset(self, rows: np.ndarray) -> "CalibrationSet":
        """The photos selected by a boolean mask or an index array."""
        idx = np.flatnonzero(rows) if rows.dtype == bool else np.asarray(rows)
        return CalibrationSet([self.image_ids[i] for i in idx], self.truth[idx],
                            {k: v[idx] for k, v in self.loglik.items()},
                            {k: v[idx] for k, v in self.seconds.items()})


def log_posteriors(log_prior: np.ndarray, obs: CalibrationSet, settings: Settings) -> np.ndarray:
    """(n, cells) normalised log posteriors under the given (weight, floor) per cue."""
    total = np.broadcast_to(np.asarray(log_prior, np.float32), (len(obs.truth), len(log_prior))).copy()
    for name, (weight, floor) in settings.items():
        if weight:
            total += weight * _floored_rows(obs.loglik[name], floor)
    return log_normalise(total)


def log_score(log_prior: np.ndarray, obs: CalibrationSet, settings: Settings) -> float:
    """Mean log posterior probability of the true cell."""
    post = log_posteriors(log_prior, obs, settings)
    return float(np.mean(post[np.arange(len(obs.truth)), obs.truth]))


def fit(log_prior: np.ndarray, obs: CalibrationSet, start: Settings, passes: int = 2,
        weights: Iterable[float] = WEIGHTS, floors: Iterable[float] = FLOORS,
        frozen: Collection[str] = ()) -> tuple[Settings, float]:
    """Coordinate ascent of the log score over each cue's (weight, floor) grid, but for the
    `frozen` cues (already calibrated likelihoods), which keep their settings. Each cue's floored
    terms are computed once per floor; the other cues' sum is kept while one cue varies."""
    settings = dict(start)
    rows = np.arange(len(obs.truth))
    current = {name: _floored_rows(obs.loglik[name], f) * w for name, (w, f) in settings.items()}

    def score(total: np.ndarray) -> float:
        return float(np.mean(log_normalise(total)[rows, obs.truth]))

    prior = np.asarray(log_prior, np.float32)
    best = score(prior + sum(current.values(), np.zeros((len(rows), len(prior)), np.float32)))
    for _ in range(passes):
        changed = False
        for name in (n for n in settings if n not in frozen):
            rest = prior + sum((t for k, t in current.items() if k != name), np.zeros((len(rows), len(prior)), np.float32))
            for f in floors:
                term = _floored_rows(obs.loglik[name], f)
                for w in weights:
                    trial = score(rest + w * term)
                    if trial > best + 1e-9:
                        best, changed = trial, True
                        settings[name], current[name] = (w, f), w * term
        if not changed:
            break
    return settings, best


@dataclass(frozen=True)
class CrossValidation:
    folds: list[Settings]  # fitted on all folds but one
    held_out_before: float  # mean log score of the held-out photos with the starting settings
    held_out_after: float  # ... with the settings fitted without them
    log_posterior: np.ndarray  # (n, cells) out-of-fold posteriors with the fitted settings


def cross_validate(log_prior: np.ndarray, obs: CalibrationSet, folds: np.ndarray, start: Settings) -> CrossValidation:
    """Fit on all folds but one, score the one left out; every photo is scored once."""
    post = np.zeros((len(obs.truth), len(log_prior)), np.float32)
    fitted = []
    for k in np.unique(folds):
        test = folds == k
        settings, _ = fit(log_prior, obs.subset(~test), start)
        fitted.append(settings)
        post[test] = log_posteriors(log_prior, obs.subset(test), settings)
    rows = np.arange(len(obs.truth))
    before = log_posteriors(log_prior, obs, start)[rows, obs.truth]
    return CrossValidation(fitted, float(np.mean(before)), float(np.mean(post[rows, obs.truth])), post)


@dataclass(frozen=True)
class Calibration:
    settings: Settings  # fitted on all photos; weight 0 for a cue that did not help out of fold
    gain: dict[str, float | None]  # each cue's out-of-fold GeoScore gain (None: it never spoke)
    geoscore: float  # out-of-fold mean GeoScore with every cue that can be judged
    prior_geoscore: float  # ... with the prior alone


def calibrate(log_prior: np.ndarray, obs: CalibrationSet, folds: np.ndarray, start: Settings,
              grid: "CellGrid", frozen: Collection[str] = ()) -> Calibration:
    """Keep the cues whose out-of-fold GeoScore gain is positive, then fit their weights and
    floors on all photos (but the `frozen` cues'); the others get weight 0."""
    spoke = {c: bool(np.any(~np.isnan(obs.loglik[c][:, 0]))) for c in start}
    judged = [c for c in start if spoke[c]]

    def held_out(cues: list[str]) -> float:
        post = np.zeros((len(obs.truth), len(log_prior)), np.float32)
        for k in np.unique(folds):
            test = folds == k
            settings, _ = fit(log_prior, obs.subset(~test), {c: start[c] for c in cues}, frozen=frozen) \
                if cues else ({}, 0.0)
            post[test] = log_posteriors(log_prior, obs.subset(test), settings)
        return float(np.mean(answer_geoscores(grid, post, obs.truth)))

    full = held_out(judged)
    gain: dict[str, float | None] = {c: None for c in start}
    gain.update({c: full - held_out([x for x in judged if x != c]) for c in judged})
    kept = [c for c in start if gain[c] is None or gain[c] > 0]
    settings, _ = fit(log_prior, obs, {c: start[c] for c in kept if gain[c] is not None}, frozen=frozen)
    settings.update({c: start[c] for c in kept if gain[c] is None})
    settings.update({c: (0.0, start[c][1]) for c in start if c not in kept})
    return Calibration({c: settings[c] for c in start}, gain, full, held_out([]))


def answer_geoscores(grid: "CellGrid", log_post: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """GeoScore of each photo's expected-GeoScore answer, the truth taken at its cell's mean."""
    cells = GeoScoreDecider.for_grid(grid).answers(log_post)
    return geoscore(haversine_km(grid.lat[cells], grid.lon[cells], grid.lat[truth], grid.lon[truth]))


def coverage(log_post: np.ndarray, truth: np.ndarray, grid: "CellGrid", mass: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Whether each photo's credible region of `mass` (`Prediction.region`'s rule) holds its true
    cell, and the region's area in km²."""
    regions = [credible_cells(np.exp(row.astype(np.float64)), grid.area_km2, mass) for row in log_post]
    return (np.array([t in set(r.tolist()) for t, r in zip(truth, regions)]),
            np.array([float(grid.area_km2[r].sum()) for r in regions]))


def _floored_rows(ll: np.ndarray, floor: float) -> np.ndarray:
    """`floored` row by row; rows of NaN (abstained) contribute zero."""
    out = np.zeros_like(ll)
    spoke = ~np.isnan(ll[:, 0])
    if spoke.any():
        out[spoke] = floored(ll[spoke], floor)
    return out


def settings_yaml(settings: Mapping[str, tuple[float, float]], record: Mapping[str, object],
                  experts: Sequence[Mapping[str, str]] = (), cue_settings_files: Mapping[str, str] = {}) -> str:
    """An override config with the fitted weights and floors, the fit recorded in comments, the
    settings file of each expert cue, and the recorded experts with theirs."""
    lines = ["# Cue weights and floors fitted by `geosleuth calibrate`."]
    lines += [f"#   {k}: {v}" for k, v in record.items()]
    lines += ["cues:"] if settings else []
    for name, (weight, floor) in settings.items():
        lines += [f"  {name}:", f"    weight: {weight}", f"    floor: {floor:.1e}"]
        if name in cue_settings_files:  # JSON strings are YAML strings, whatever the path holds
            lines.append(f"    settings: {json.dumps(cue_settings_files[name])}")
    if experts:
        lines.append("experts:")
        for entry in experts:
            lines += [f"  - file: {json.dumps(entry['file'])}", f"    settings: {json.dumps(entry['settings'])}"]
    return "\n".join(lines) + "\n"
