"""What an expert (a vision-language model, another geolocation tool, a colleague) answered about
a photo, and what that answer is worth.

An expert's answer is its own posterior, base rates included. What it is worth is how far from
the truth such answers land: an error distribution per confidence level the expert states,
fitted on labelled photos (`fit_errors`), as a mixture of heavy-tailed kernels at fixed scales,
"in its country" (the right country, the place no better than where photos are taken in it)
and "anywhere" (unrelated to the truth: the photo is wherever photos are taken). Around each
candidate that distribution gives each cell a share of the expert's mass; divided by the photo-
density prior (so the base rates are not counted twice) it is the cue's likelihood, and fused
with the prior it gives back the calibrated distribution. An answer is a claim, not a sighting:
it never vouches for a point, and its "anywhere" share never falls below the cue's floor, so
GPS, text and hints can overrule it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence, GeoPoint
from geosleuth.errors import ConfigError
from geosleuth.fusion.kernels import t_kernel_log_mass
from geosleuth.geo import haversine_km

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

ANY = "any"  # the level of an answer that states no confidence, and every level's fallback
EVIDENCE_CAP = 4  # answers citing this many pieces of evidence or more share a level
CONFIDENCE_BINS = (0.25, 0.5, 0.75)  # stated confidences fall into four levels
SCALES_KM = (1.0, 5.0, 25.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0)  # the error kernels' scales
# An uncalibrated expert's errors: every scale alike, one answer in ten only the right country,
# one in ten unrelated to the truth.
UNCALIBRATED = (*(0.8 / len(SCALES_KM),) * len(SCALES_KM), 0.1, 0.1)
SHRINK_PHOTOS = 25  # a level's fit counts the pooled fit as this many photos
NO_FUSION_FLOOR = 1e-12


@dataclass(frozen=True)
class ExpertCandidate:
    """One place an expert named, with what it said of its own certainty."""

    lat: float
    lon: float
    place: str = ""
    country: str = ""
    confidence: float | None = None  # the expert's stated confidence, 0..1
    evidence_count: int | None = None  # how many pieces of evidence it cited

    @property
    def level(self) -> str:
        """The confidence level its spread is calibrated for: by evidence count where given
        ("evidence 0" ... "evidence 4+"), else by stated confidence, else "any"."""
        if self.evidence_count is not None:
            n = min(self.evidence_count, EVIDENCE_CAP)
            return f"evidence {n}{'+' if n == EVIDENCE_CAP else ''}"
        if self.confidence is not None:
            edges = (0.0, *CONFIDENCE_BINS, 1.0)
            k = sum(self.confidence >= b for b in CONFIDENCE_BINS)
            return f"confidence {edges[k]:.2f}-{edges[k + 1]:.2f}"
        return ANY

    def label(self) -> str:
        name = self.place or f"{self.lat:.4f}, {self.lon:.4f}"
        return name + (f" ({self.country})" if self.country and self.country not in name else "")


@dataclass(frozen=True)
class ExpertAnswer:
    """An expert's answer for one photo: its candidates, most likely first, and the clues it gave
    in its own words."""

    candidates: tuple[ExpertCandidate, ...]
    clues: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpertSettings:
    """How far to trust one expert: the error distribution of each confidence level (shares of
    `SCALES_KM`'s kernels, then of "in its country", then of "anywhere"), the cue's weight, and
    its floor: the least share of "anywhere" an answer keeps."""

    errors: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: {ANY: UNCALIBRATED})
    weight: float = 1.0
    floor: float = 1e-2
    fitted: str = ""  # how they were fitted, or "" for the uncalibrated defaults

    def shares(self, level: str) -> np.ndarray:
        """The level's shares (its fallback "any"), the "anywhere" share raised to the floor."""
        shares = np.asarray(self.errors.get(level, self.errors.get(ANY, UNCALIBRATED)), np.float64)
        anywhere = max(shares[-1], self.floor)
        return np.r_[shares[:-1] * (1 - anywhere) / max(1 - shares[-1], 1e-12), anywhere]

    def near(self, level: str) -> tuple[float, float]:
        """(the share of this level's answers near the truth (in a kernel), the distance within
        which half of those land)."""
        shares = self.shares(level)[: len(SCALES_KM)]
        near = float(shares.sum())
        if near <= 0:
            return 0.0, float("inf")
        scales = np.asarray(SCALES_KM)

        def within(r: float) -> float:  # a 2-D t kernel (one degree of freedom) holds 1 - s/sqrt(s² + r²)
            return float(np.sum(shares * (1 - scales / np.sqrt(scales ** 2 + r ** 2)))) / near

        lo, hi = 0.0, 40_000.0
        for _ in range(50):
            lo, hi = ((lo + hi) / 2, hi) if within((lo + hi) / 2) < 0.5 else (lo, (lo + hi) / 2)
        return near, hi

    @classmethod
    def load(cls, path: str | Path) -> "ExpertSettings":
        """Settings written by `geosleuth calibrate --expert` (or by hand)."""
        import yaml

        try:
            data = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read expert settings {path}: {exc}") from None
        try:
            scales = tuple(float(v) for v in data.get("scales_km", SCALES_KM))
            errors = {str(k): tuple(float(x) for x in v) for k, v in dict(data.get("errors") or {ANY: UNCALIBRATED}).items()}
            settings = cls(errors, float(data.get("weight", 1.0)), float(data.get("floor", 1e-2)),
                           str(data.get("fitted", "")))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"expert settings {path}: {exc}") from None
        if scales != SCALES_KM:
            raise ConfigError(f"expert settings {path}: scales_km must be {list(SCALES_KM)}")
        if any(len(v) != len(SCALES_KM) + 2 or min(v) < 0 or not 0.99 <= sum(v) <= 1.01 for v in errors.values()) \
                or not 0 <= settings.weight <= 100 or not 0 < settings.floor < 1:
            raise ConfigError(f"expert settings {path}: each level's errors are {len(SCALES_KM) + 2} shares "
                              "summing to 1, weight in [0, 100], floor in (0, 1)")
        return settings

    def to_yaml(self, record: Mapping[str, Any] = {}) -> str:
        import yaml

        lines = ["# Expert settings: per confidence level, the share of its answers whose error is each of",
                 "# scales_km (heavy-tailed kernels), then the share only in the right country, then the share",
                 "# unrelated to the truth; the cue's weight; its floor (the least share taken as unrelated)."]
        lines += [f"#   {k}: {v}" for k, v in record.items()]
        body = {"scales_km": list(SCALES_KM),
                "errors": {k: [round(float(x), 4) for x in v] for k, v in self.errors.items()},
                "weight": self.weight, "floor": self.floor, "fitted": self.fitted}
        return "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=200)


def _t_log_density(d_km: np.ndarray, scale_km: np.ndarray) -> np.ndarray:
    """log density (per km²) of a 2-D Student t with one degree of freedom: most answers land
    close, a few a continent away. Broadcasts over distances and scales."""
    return np.log(scale_km / (2 * np.pi)) - 1.5 * np.log(scale_km ** 2 + d_km ** 2)


def _log_prior(grid: "CellGrid") -> np.ndarray:
    log_prior = grid.log_prior()
    return log_prior - np.logaddexp.reduce(log_prior)


def candidate_log_mass(grid: "CellGrid", lat: float, lon: float, shares: np.ndarray) -> np.ndarray:
    """log of the share of the expert's mass in each cell for a candidate at (lat, lon): each
    kernel's mass in the cell, "in its country" spread as the prior over the cells of the
    candidate's cell's country, "anywhere" as the prior."""
    log_prior = _log_prior(grid)
    with np.errstate(divide="ignore"):
        kernels = [t_kernel_log_mass(grid, lat, lon, scale) if share > 0 else np.full(len(grid), -np.inf)
                   for scale, share in zip(SCALES_KM, shares)]
        country = np.where(grid.cell_country == grid.cell_country[grid.lookup([lat], [lon])[0]], log_prior, -np.inf)
        parts = np.vstack([*kernels, country - np.logaddexp.reduce(country), log_prior])
        return np.logaddexp.reduce(parts + np.log(shares)[:, None], axis=0)


def answer_log_likelihood(grid: "CellGrid", answer: ExpertAnswer, settings: ExpertSettings) -> np.ndarray:
    """log p(the answer | photo in each cell), up to a constant: the expert's mass per cell (a
    mixture over its candidates, weighted by their stated confidences, equal where none is
    stated), divided by the photo-density prior its answer already holds."""
    masses, weights = [], []
    for candidate in answer.candidates:
        masses.append(candidate_log_mass(grid, candidate.lat, candidate.lon, settings.shares(candidate.level)))
        weights.append(max(candidate.confidence, 1e-3) if candidate.confidence is not None else 1.0)
    mixed = np.logaddexp.reduce(np.stack(masses) + np.log(np.asarray(weights) / np.sum(weights))[:, None], axis=0)
    return mixed - _log_prior(grid)


def log_likelihoods(grid: "CellGrid", answers: "Sequence[ExpertAnswer | None]",
                    settings: ExpertSettings) -> np.ndarray:
    """(n, cells) log-likelihoods of many photos' answers, NaN rows where there is none (the
    layout of `fusion.calibration.CalibrationSet`)."""
    out = np.full((len(answers), len(grid)), np.nan, np.float32)
    for i, answer in enumerate(answers):
        if answer is not None and answer.candidates:
            out[i] = answer_log_likelihood(grid, answer, settings)
    return out


class ExpertCue(BaseCue):
    """A cue whose knowledge comes from outside (a model, a tool, a colleague): its answer for a
    photo, fused as calibrated kernels. Subclasses say how an answer is had (`consult`)."""

    who = "the expert"  # how its claims are introduced in the evidence

    def __init__(self, settings: ExpertSettings) -> None:
        # Its floor is inside its likelihood (the "anywhere" share), not fusion's.
        super().__init__(weight=settings.weight, floor=NO_FUSION_FLOOR)
        self.settings = settings

    def consult(self, photo: "Photo") -> tuple[ExpertAnswer | None, tuple[Evidence, ...], str]:
        """(its answer or None, evidence of how it was had, why there is none)."""
        raise NotImplementedError

    def keep_answers(self) -> None:
        """Remember each answer from now on, for `answer` (calibration). Default: all are kept."""

    def answer(self, image_id: str) -> ExpertAnswer | None:
        """Its answer for a photo already consulted (by file name), for calibration."""
        raise NotImplementedError

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        if self.weight == 0:  # not even asked: a model would be sent the photo for nothing
            fitted = f" ({self.settings.fitted}: no out-of-fold gain)" if self.settings.fitted else ""
            return CueOutput.abstain(f"weight 0{fitted}: not consulted")
        answer, evidence, why = self.consult(photo)
        if answer is None:
            return CueOutput.abstain(why, evidence)
        evidence += tuple(expert_evidence(answer, self.settings, f"{self.who} says"))
        return CueOutput(answer_log_likelihood(grid, answer, self.settings), evidence,
                         points=claimed_points(answer, self.settings))

    def review(self, own: CueOutput, others: Mapping[str, np.ndarray], grid: "CellGrid") -> tuple[Evidence, ...]:
        return agreement(own, others, grid, self.who)


def claimed_points(answer: ExpertAnswer, settings: ExpertSettings) -> tuple[GeoPoint, ...]:
    """The answer's candidates as claimed points: where the fused answer lands in a candidate's
    cell, it is said at the expert's point rather than at the cell's mean photo location."""
    return tuple(GeoPoint(c.lat, c.lon, min(settings.near(c.level)[1], SCALES_KM[-1]), c.label(), claim=True)
                 for c in answer.candidates)


def expert_evidence(answer: ExpertAnswer, settings: ExpertSettings, who: str) -> list[Evidence]:
    """The expert's candidates and clues as evidence, worded as its claims."""
    out = []
    for rank, c in enumerate(answer.candidates, 1):
        stated = [f"{c.confidence:.0%} confidence" if c.confidence is not None else "",
                  f"evidence cited: {c.evidence_count}" if c.evidence_count is not None else ""]
        said = "; ".join(s for s in stated if s)
        near, typical = settings.near(c.level)
        worth = f"{near:.0%} of such answers ({c.level}) land near the truth, half of those within ~{typical:,.0f} km"
        out.append(Evidence("expert_claim", f"{who}: {c.label()} ({c.lat:.4f}, {c.lon:.4f})"
                            + (f", {said}" if said else "") + f"; {worth}"
                            + ("" if settings.fitted else " (uncalibrated)"),
                            0.0,  # a claim, not a sighting: its own confidence is in the words
                            details={"rank": rank, "lat": c.lat, "lon": c.lon, "place": c.place, "country": c.country,
                                     "stated_confidence": c.confidence, "evidence_count": c.evidence_count,
                                     "level": c.level, "near": near, "typical_km": typical}))
    out += [Evidence("expert_clue", f"{who} (its claim): {clue}", 0.0) for clue in answer.clues]
    return out


def agreement(own: CueOutput, others: Mapping[str, np.ndarray], grid: "CellGrid", who: str) -> tuple[Evidence, ...]:
    """Whether the other cues that spoke favour the country of the expert's first candidate (its
    first "expert_claim" evidence)."""
    first = next((ev.details for ev in own.evidence if ev.kind == "expert_claim"), None)
    if own.abstained or first is None or not others:
        return ()
    mine = first.get("country") or str(grid.cell_country[grid.lookup([first["lat"]], [first["lon"]])[0]])
    total = grid.log_prior() + sum(others.values())
    p = np.exp(total - total.max())
    countries = grid.country_probabilities(p / p.sum())
    k = int(np.argmax(countries))
    theirs, share = grid.countries[k], float(countries[k])
    named = ", ".join(sorted(others))
    if theirs == mine:
        return (Evidence("consistency", f"{who} and {named} favour the same country ({mine})", 0.0),)
    if share >= 0.5:
        return (Evidence("warning", f"{who} says {mine}; {named} favour {theirs} ({share:.0%}): the expert's "
                                    "guess and the photo's evidence disagree", 0.0,
                         details={"expert_country": mine, "others_country": theirs, "others_share": share}),)
    return ()


def fit_errors(grid: "CellGrid", answers: "Sequence[ExpertAnswer | None]", lat: np.ndarray,
               lon: np.ndarray) -> dict[str, tuple[float, ...]]:
    """Each confidence level's error distribution, fitted by expectation-maximisation on where
    the truth (lat, lon) of labelled photos lies from their first candidate: the shares of
    `SCALES_KM`'s kernels (by distance), of "in its country" and of "anywhere" (the prior's
    density at the truth). "any" is fitted on every answered photo; each level starts from it,
    counted as `SHRINK_PHOTOS` photos, so a level seen on few photos stays close to it."""
    rows = [i for i, a in enumerate(answers) if a is not None and a.candidates]
    if not rows:
        return {ANY: UNCALIBRATED}
    first = [answers[i].candidates[0] for i in rows]
    said_lat, said_lon = np.array([c.lat for c in first]), np.array([c.lon for c in first])
    true_lat, true_lon = np.asarray(lat)[rows], np.asarray(lon)[rows]
    cells = grid.lookup(true_lat, true_lon)
    log_prior = _log_prior(grid)
    anywhere = log_prior[cells] - np.log(grid.area_km2[cells])
    country_mass = {cc: np.logaddexp.reduce(log_prior[grid.cell_country == cc]) for cc in set(grid.cell_country)}
    said_country = grid.cell_country[grid.lookup(said_lat, said_lon)]
    same = said_country == grid.cell_country[cells]
    in_country = np.where(same, anywhere - np.array([country_mass[cc] for cc in said_country]), -np.inf)
    dens = np.column_stack([_t_log_density(haversine_km(said_lat, said_lon, true_lat, true_lon)[:, None],
                                           np.asarray(SCALES_KM)[None]), in_country, anywhere])

    def em(members: np.ndarray, start: np.ndarray, pseudo: float) -> np.ndarray:
        shares = start
        for _ in range(500):
            with np.errstate(divide="ignore"):
                r = dens[members] + np.log(shares)
            r = np.exp(r - np.logaddexp.reduce(r, axis=1, keepdims=True))
            new = (r.sum(axis=0) + pseudo * start) / (len(members) + pseudo)
            if np.abs(new - shares).max() < 1e-7:
                break
            shares = new
        return shares

    pooled = em(np.arange(len(rows)), np.asarray(UNCALIBRATED), 0.0)
    errors = {ANY: tuple(float(x) for x in pooled)}
    levels = np.array([c.level for c in first])
    for level in sorted(set(levels) - {ANY}):
        errors[str(level)] = tuple(float(x) for x in em(np.flatnonzero(levels == level), pooled, SHRINK_PHOTOS))
    return errors


def out_of_fold_log_likelihoods(grid: "CellGrid", answers: "Sequence[ExpertAnswer | None]", lat: np.ndarray,
                                lon: np.ndarray, folds: np.ndarray, floor: float) -> np.ndarray:
    """(n, cells) log-likelihoods of the answers, each fold's with errors fitted on the other
    folds (NaN rows where the expert gave no answer): what calibration may judge the expert on."""
    out = np.full((len(answers), len(grid)), np.nan, np.float32)
    for k in np.unique(folds):
        train = folds != k
        errors = fit_errors(grid, [a for a, t in zip(answers, train) if t], lat[train], lon[train])
        out[~train] = log_likelihoods(grid, [a for a, t in zip(answers, train) if not t],
                                      ExpertSettings(errors, floor=floor))
    return out
