"""What a cue is: `observe(photo, grid) -> CueOutput` (a log-likelihood over cells, or abstain)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo


@dataclass(frozen=True)
class Evidence:
    """One thing a cue saw, in a sentence, with how sure it is and where in the image."""

    kind: str  # e.g. "gps", "script", "phone", "plate"; "warning" is surfaced in Prediction.warnings
    summary: str  # one sentence for the report
    confidence: float = 1.0  # 0..1
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in working-image pixels
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON-safe

    @property
    def sureness(self) -> str:
        """How sure the cue is of this one thing, in words; '' at 1 (what a cue that does not say
        gets) and at 0 (a note, such as what could not be read, not a sighting). Not how far it
        moved the answer: the cue's bits say that."""
        return f"{self.confidence:.0%} sure" if 0 < self.confidence < 1 else ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary, "confidence": round(float(self.confidence), 4),
                "box": None if self.box is None else [round(float(v), 1) for v in self.box],
                "details": dict(self.details)}


@dataclass(frozen=True)
class GeoPoint:
    """A precise location a cue vouches for (a GPS fix, a matched street), or one a model or
    expert named (`claim`): within its cell, the reported coordinate is this point rather than
    the cell's mean photo location. A claim places the answer but never makes it exact."""

    lat: float
    lon: float
    sigma_km: float
    label: str = ""
    claim: bool = False


@dataclass(frozen=True, eq=False)
class CueOutput:
    """A cue's verdict: log-likelihood over grid cells (any additive constant), or abstention.

    A cue whose model learnt a posterior p(cell | x) under a prior of its own divides that prior
    out itself, so fusion counts the data prior once.
    `country_given_cell` is set by cues that name countries: per pair of the grid's share table,
    what they say of the country within its cell (`CellGrid.marginalise`).
    """

    log_likelihood: np.ndarray | None
    evidence: tuple[Evidence, ...] = ()
    note: str = ""
    points: tuple[GeoPoint, ...] = ()
    country_given_cell: np.ndarray | None = None

    @classmethod
    def abstain(cls, note: str, evidence: tuple[Evidence, ...] | list[Evidence] = ()) -> "CueOutput":
        return cls(None, tuple(evidence), note)

    @property
    def abstained(self) -> bool:
        return self.log_likelihood is None


@runtime_checkable
class Cue(Protocol):
    """A cue expert: what fusion and the report need of it.

    `weight` tempers its log-likelihood and `floor` bounds how much less likely it can make any
    cell (see `fusion.combine`). Constructors only store parameters; models load lazily.
    """

    name: str
    weight: float
    floor: float
    why_off: str  # why the shipped config leaves it off, if it does (`geosleuth cues` shows it)

    @property
    def batches(self) -> bool:
        """Whether `prepare` runs a model on several photos at once."""
        ...

    def available(self) -> tuple[bool, str]:
        """Whether its models and packages can be used here, and a note saying why not."""
        ...

    def optional_models(self) -> dict[str, tuple[str, str]]:
        """Models it can use when given one: name -> (the setting that names it, how to get one)."""
        ...

    def prepare(self, photos: Sequence["Photo"]) -> None:
        """Called before `observe` on each of several photos: run a model on all of them at once
        and memoise its results on the photos."""
        ...

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        """Its log-likelihood over the grid's cells, or an abstention."""
        ...

    def review(self, own: CueOutput, others: Mapping[str, np.ndarray], grid: "CellGrid") -> tuple[Evidence, ...]:
        """Cross-check after every cue ran: `others` maps each other cue that spoke to the
        log-likelihood it adds to the posterior. Returns extra evidence (kind "warning" is
        surfaced in the prediction's warnings)."""
        ...


class BaseCue:
    """The Cue protocol's defaults: always available, no optional models, no batching, no
    cross-check. Subclasses set `name` (the registry does for registered cues) and take their
    weight and floor from the config."""

    name: ClassVar[str] = ""
    why_off: ClassVar[str] = ""  # why the shipped config leaves it off, for `geosleuth cues`

    def __init__(self, *, weight: float, floor: float) -> None:
        self.weight = weight
        self.floor = floor

    def available(self) -> tuple[bool, str]:
        return True, "ready"

    def optional_models(self) -> dict[str, tuple[str, str]]:
        """Default: none."""
        return {}

    def review(self, own: CueOutput, others: Mapping[str, np.ndarray], grid: "CellGrid") -> tuple[Evidence, ...]:
        return ()

    @property
    def batches(self) -> bool:
        """Default: no."""
        return False

    def prepare(self, photos: Sequence["Photo"]) -> None:
        """Default: nothing (it does not batch)."""

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:  # pragma: no cover - interface
        raise NotImplementedError
