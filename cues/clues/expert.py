"""What an expert (a vision-language model, another geolocation tool, a colleague) answered about
a photo, and what that answer is worth: a mixture of kernels over cells around its candidates,
each kernel's spread set by the confidence level the expert stated, as calibrated for that expert
(`ExpertSettings`, fitted by `fusion.calibration.fit_expert_spreads`). An answer is a claim, not
a sighting: it never vouches for a point, and fusion floors it so hard evidence can overrule it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from geosleuth.errors import ConfigError
from geosleuth.fusion.kernels import point_log_likelihood

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

ANY = "any"  # the level of an answer that states no confidence, and every level's fallback
EVIDENCE_CAP = 4  # answers citing this many pieces of evidence or more share a level
CONFIDENCE_BINS = (0.25, 0.5, 0.75)  # stated confidences fall into four levels
DEFAULT_SIGMA_KM = 250.0  # an uncalibrated expert's error scale (its kernel is heavy-tailed)
SIGMAS_KM = (1.0, 5.0, 25.0, 100.0, 250.0, 500.0, 1000.0, 2000.0)  # the spreads calibration tries


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
    """How far to trust one expert: the kernel spread of each confidence level (km), and the
    weight and floor of its cue in fusion."""

    sigma_km: Mapping[str, float] = field(default_factory=lambda: {ANY: DEFAULT_SIGMA_KM})
    weight: float = 1.0
    floor: float = 1e-2
    fitted: str = ""  # how they were fitted, or "" for the uncalibrated defaults

    def sigma(self, level: str) -> float:
        return float(self.sigma_km.get(level, self.sigma_km.get(ANY, DEFAULT_SIGMA_KM)))

    @classmethod
    def load(cls, path: str | Path) -> "ExpertSettings":
        """Settings written by `geosleuth calibrate --expert` (or by hand)."""
        import yaml

        try:
            data = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read expert settings {path}: {exc}") from None
        try:
            sigma = {str(k): float(v) for k, v in dict(data.get("sigma_km") or {ANY: DEFAULT_SIGMA_KM}).items()}
            settings = cls(sigma, float(data.get("weight", 1.0)), float(data.get("floor", 1e-2)),
                           str(data.get("fitted", "")))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"expert settings {path}: {exc}") from None
        if not all(math.isfinite(s) and s > 0 for s in settings.sigma_km.values()) \
                or not 0 <= settings.weight <= 100 or not 0 < settings.floor < 1:
            raise ConfigError(f"expert settings {path}: spreads must be > 0 km, weight in [0, 100], floor in (0, 1)")
        return settings

    def to_yaml(self, record: Mapping[str, Any] = {}) -> str:
        import yaml

        lines = ["# Expert settings: kernel spread per confidence level, weight and floor of its cue."]
        lines += [f"#   {k}: {v}" for k, v in record.items()]
        body = {"sigma_km": {k: round(float(v), 1) for k, v in self.sigma_km.items()}, "weight": self.weight,
                "floor": self.floor, "fitted": self.fitted}
        return "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def answer_log_likelihood(grid: "CellGrid", answer: ExpertAnswer, settings: ExpertSettings) -> np.ndarray:
    """log p(the answer | photo in each cell): a mixture over its candidates, each a kernel of its
    level's spread. A stated confidence is the expert's own posterior, base rates included, so
    each kernel is scaled to hold, under the photo-density prior, the share of the mixture its
    confidence gives it (equal shares where none is stated): a candidate in a sparse region is
    not outvoted by a less likely one in a dense region."""
    log_prior = grid.log_prior()
    parts, weights = [], []
    for candidate in answer.candidates:
        kernel = point_log_likelihood(grid, candidate.lat, candidate.lon, settings.sigma(candidate.level))
        parts.append(kernel - np.logaddexp.reduce(kernel + log_prior))
        weights.append(max(candidate.confidence, 1e-3) if candidate.confidence is not None else 1.0)
    stacked = np.stack(parts) + np.log(np.asarray(weights) / np.sum(weights))[:, None]
    return np.logaddexp.reduce(stacked, axis=0)


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
        super().__init__(weight=settings.weight, floor=settings.floor)
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
        return CueOutput(answer_log_likelihood(grid, answer, self.settings), evidence)

    def review(self, own: CueOutput, others: Mapping[str, np.ndarray], grid: "CellGrid") -> tuple[Evidence, ...]:
        return agreement(own, others, grid, self.who)


def expert_evidence(answer: ExpertAnswer, settings: ExpertSettings, who: str) -> list[Evidence]:
    """The expert's candidates and clues as evidence, worded as its claims."""
    out = []
    for rank, c in enumerate(answer.candidates, 1):
        stated = [f"{c.confidence:.0%} confidence" if c.confidence is not None else "",
                  f"evidence cited: {c.evidence_count}" if c.evidence_count is not None else ""]
        said = "; ".join(s for s in stated if s)
        out.append(Evidence("expert_claim", f"{who}: {c.label()} ({c.lat:.4f}, {c.lon:.4f})"
                            + (f", {said}" if said else "") + f"; trusted within ~{settings.sigma(c.level):,.0f} km "
                            f"({c.level})", 0.0,  # a claim, not a sighting: its own confidence is in the words
                            details={"rank": rank, "lat": c.lat, "lon": c.lon, "place": c.place, "country": c.country,
                                     "stated_confidence": c.confidence, "evidence_count": c.evidence_count,
                                     "level": c.level, "sigma_km": settings.sigma(c.level)}))
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




MIN_PHOTOS_PER_LEVEL = 25  # a level answered for fewer photos keeps the pooled spread


def fit_spreads(grid: "CellGrid", log_prior: np.ndarray, answers: "list[ExpertAnswer | None]",
                truth: np.ndarray) -> dict[str, float]:
    """Each confidence level's kernel spread (from `SIGMAS_KM`) that maximises the mean log
    posterior of the true cell (prior and this expert, tempered and floored) over the photos
    whose first candidate has that level. "any" is the spread fitted on every answered photo,
    jointly with the weight and floor (the spread that suits a floor depends on it); the levels
    are then fitted at that weight and floor, and those with too few photos keep "any"."""
    from geosleuth.fusion.calibration import FLOORS, WEIGHTS
    from geosleuth.fusion.combine import floored, log_normalise

    rows = [i for i, a in enumerate(answers) if a is not None and a.candidates]
    if not rows:
        return {ANY: DEFAULT_SIGMA_KM}

    def score(members: list[int], spreads: dict[str, float], weights: tuple[float, ...] = (1.0,),
              floors: tuple[float, ...] = (1e-2,)) -> tuple[float, float, float]:
        """(best mean log posterior of the truth, its weight, its floor) under these spreads."""
        ll = np.stack([answer_log_likelihood(grid, answers[i], ExpertSettings(spreads)) for i in members])
        rows_, t = np.arange(len(members)), truth[members]
        return max((float(np.mean(log_normalise(log_prior + w * floored(ll, f))[rows_, t])), w, f)
                   for f in floors for w in weights if w > 0)

    fits = {sigma: score(rows, {ANY: sigma}, tuple(WEIGHTS), tuple(FLOORS)) for sigma in SIGMAS_KM}
    pooled = max(fits, key=lambda sigma: fits[sigma][0])
    _, weight, floor = fits[pooled]
    spreads = {ANY: pooled}
    levels: dict[str, list[int]] = {}
    for i in rows:
        levels.setdefault(answers[i].candidates[0].level, []).append(i)
    for level, members in sorted(levels.items()):
        if level != ANY and len(members) >= MIN_PHOTOS_PER_LEVEL:
            spreads[level] = max(SIGMAS_KM, key=lambda sigma: score(members, {ANY: pooled, level: sigma},
                                                                     (weight,), (floor,))[0])
    return spreads


def out_of_fold_log_likelihoods(grid: "CellGrid", log_prior: np.ndarray, answers: "list[ExpertAnswer | None]",
                                truth: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """(n, cells) log-likelihoods of the answers, each fold's with spreads fitted on the other
    folds (NaN rows where the expert gave no answer): what calibration may judge the expert on."""
    out = np.full((len(answers), len(grid)), np.nan, np.float32)
    for k in np.unique(folds):
        train = folds != k
        settings = ExpertSettings(fit_spreads(grid, log_prior, [a for a, t in zip(answers, train) if t], truth[train]))
        out[~train] = log_likelihoods(grid, [a for a, t in zip(answers, train) if not t], settings)
    return out
