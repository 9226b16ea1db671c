"""`Observation`: what one source of evidence (a cue, a hint, an album photo) said about a photo,
and how fusion weighs it."""

from __future__ import annotations

from dataclasses import dataclass

from geosleuth.cues.base import Cue, CueOutput


@dataclass(frozen=True)
class Observation:
    """What one source of evidence said, and how fusion weighs it."""

    name: str
    output: CueOutput
    status: str  # ok | abstained | failed
    weight: float
    floor: float
    seconds: float = 0.0
    cue: Cue | None = None  # the cue that said it, asked to cross-check the others after fusion

    @property
    def spoke(self) -> bool:
        """Whether it enters fusion: it gave a likelihood and has a weight."""
        return self.status == "ok" and self.weight > 0
