"""Album mode: several photos taken in one place, one joint posterior (PlaNet's album idea, done
the Bayesian way). Each photo's fused posterior is turned back into a likelihood by dividing the
prior out, so the prior is counted once:

    log p(c | photos) = log prior(c) + sum_i [log p(c | photo_i) - log prior(c)] + const

Each photo is then a term of the same fusion the cues use (with a floor, so one photo that was
not taken there cannot rule the true place out), and is reported like a cue: bits, the country
it favoured, how far it moved the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from geosleuth.api import BatchItem, Geolocator
from geosleuth.cues.base import CueOutput, Evidence
from geosleuth.errors import GeosleuthError
from geosleuth.observation import Observation
from geosleuth.pipeline import observe_hints, predict
from geosleuth.results import Prediction

if TYPE_CHECKING:
    from geosleuth.hints import Hint
    from geosleuth.photo import ImageInput

SCHEMA = "geosleuth.album/1"
PHOTO_FLOOR = 1e-6  # one photo can make a cell at most a million times less likely


@dataclass(frozen=True)
class AlbumResult:
    """The joint prediction (its cue reports are the photos and any hints) and each photo's own."""

    prediction: Prediction
    photos: tuple[BatchItem, ...]

    @property
    def failed(self) -> list[BatchItem]:
        return [p for p in self.photos if not p.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "prediction": self.prediction.to_dict(),
                "photos": [{"image": p.source, "ok": p.ok, "error": p.error,
                            "best": p.prediction.best.to_dict() if p.prediction else None} for p in self.photos]}


def locate_album(geo: Geolocator, images: Iterable["ImageInput"], *, hints: Sequence["Hint"] = (),
                 workers: int | None = None, name: str = "album", floor: float = PHOTO_FLOOR) -> AlbumResult:
    """Locate photos taken in one place; a photo that cannot be read is reported and left out.

    >>> from geosleuth import Geolocator, example_image
    >>> geo = Geolocator.from_config("prior-only")
    >>> len(locate_album(geo, [example_image(), example_image()]).prediction.cues)
    2
    """
    start = time.perf_counter()
    items = tuple(geo.locate_many(images, workers=workers))
    labels = _labels([it.source for it in items])
    log_prior = geo.log_prior()
    photos = [_photo_observation(label, item, log_prior, floor) for label, item in zip(labels, items)]
    if not any(o.spoke for o in photos):
        raise GeosleuthError(f"{name}: none of the {len(items)} photos could be located")
    hinted = observe_hints(hints, None, geo.grid)  # once for the album, not once per photo
    out = geo.config["output"]
    warnings = [f"{label}: {w}" for label, it in zip(labels, items) if it.ok for w in it.prediction.warnings]
    prediction = predict(geo.grid, log_prior, photos + list(hinted), image=f"{name} ({sum(it.ok for it in items)} "
                         "photos)", image_size=(0, 0), output=out, timings={},
                         started=start, warnings=warnings)
    return AlbumResult(prediction, items)


def _photo_observation(label: str, item: BatchItem, log_prior: np.ndarray, floor: float) -> Observation:
    """A located photo as an observation: its posterior over the prior (the prior is counted once)."""
    if not item.ok:
        return Observation(label, CueOutput.abstain(item.error or ""), "failed", 0.0, floor)
    pred = item.prediction
    said = CueOutput(np.log(np.maximum(pred.posterior, 1e-300)) - log_prior, _photo_evidence(pred),
                     f"alone: {pred.best.place} (confidence: {pred.confidence.level})")
    return Observation(label, said, "ok", 1.0, floor, pred.timings.get("total", 0.0))


def _photo_evidence(pred: Prediction) -> tuple[Evidence, ...]:
    """One line per cue that spoke in this photo (its boxes stay with the photo's own prediction)."""
    out = []
    for name, rep in pred.cues.items():
        if rep.status != "ok":
            continue
        said = f"; {rep.evidence[0].summary}" if rep.evidence else ""
        out.append(Evidence(name, f"{name}: {rep.bits or 0.0:.2f} bits{said}", 1.0,
                            details={"cue": name, "bits": round(rep.bits or 0.0, 4)}))
    return tuple(out)


def _labels(sources: Sequence[str]) -> list[str]:
    """Short unique labels: file names, with the parent folder where names repeat."""
    names = [Path(s).name for s in sources]
    out = []
    for s, n in zip(sources, names):
        label = n if names.count(n) == 1 else str(Path(Path(s).parent.name) / n)
        while label in out:
            label += "'"
        out.append(label)
    return out
