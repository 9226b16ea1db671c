"""A cue that reads the shared image model's features and heads (the `scene` cue), staying
silent at weight 0 (the shipped default), where it computes nothing and says why."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput
from geosleuth.cues.engines.backbone import ImageFeatures
from geosleuth.cues.engines.heads import CellHeads

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo


class ImageFeatureCue(BaseCue):
    """A cue over the shared image features and heads; subclasses implement `read`."""

    muted_note: ClassVar[str] = "weight 0: not run"

    def __init__(self, *, features: ImageFeatures, weight: float, floor: float) -> None:
        super().__init__(weight=weight, floor=floor)
        self.features = features

    def available(self) -> tuple[bool, str]:
        return self.features.available()

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        if not self.weight:
            return CueOutput.abstain(self.muted_note)
        got = self.features.of(photo, grid)
        if isinstance(got, str):
            return CueOutput.abstain(got)
        return self.read(*got, grid)

    def read(self, feature: np.ndarray, heads: CellHeads, grid: "CellGrid") -> CueOutput:  # pragma: no cover
        raise NotImplementedError
