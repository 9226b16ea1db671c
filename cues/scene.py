"""The `scene` cue: indoor / natural / urban from the shared image model's scene head, and the
scene-conditioned cell biases (ISN) as its likelihood, so the report shows the scene's own pull."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from geosleuth.cues.engines.backbone import ImageFeatures
from geosleuth.cues.engines.heads import SCENES

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo


OFF_NOTE = ("weight 0: the scene-conditioned cell biases did not raise GeoScore on photographers they "
            "never saw; set cues.scene.weight above 0 to use them.")


class SceneCue(BaseCue):
    """Indoor / natural / urban from the scene head; the scene-conditioned cell biases (ISN)."""

    name = "scene"

    def __init__(self, *, features: ImageFeatures, weight: float, floor: float) -> None:
        super().__init__(weight=weight, floor=floor)
        self.features = features

    def available(self) -> tuple[bool, str]:
        return self.features.available()

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        if not self.weight:
            return CueOutput.abstain(OFF_NOTE)
        got = self.features.of(photo, grid)
        if isinstance(got, str):
            return CueOutput.abstain(got)
        feature, heads = got
        p = heads.scene_probabilities(feature)[0]
        best = int(np.argmax(p))
        seen = Evidence("scene", f"{SCENES[best]} scene ({p[best]:.0%})", confidence=float(p[best]),
                        details={s: round(float(v), 4) for s, v in zip(SCENES, p)})
        return CueOutput(heads.scene_log_likelihood(p, grid)[0], (seen,))
