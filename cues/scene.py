"""The `scene` cue: indoor / natural / urban from the shared image model's scene head, and the
scene-conditioned cell biases (ISN) as its likelihood, so the report shows the scene's own pull."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cues.base import CueOutput, Evidence
from geosleuth.cues.engines.heads import SCENES, CellHeads
from geosleuth.cues.image_cue import ImageFeatureCue

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid


class SceneCue(ImageFeatureCue):
    """Indoor / natural / urban from the scene head; the scene-conditioned cell biases (ISN)."""

    name = "scene"
    muted_note = ("weight 0: the scene-conditioned cell biases did not raise GeoScore on photographers they "
                  "never saw; set cues.scene.weight above 0 to use them.")

    def read(self, feature: np.ndarray, heads: CellHeads, grid: "CellGrid") -> CueOutput:
        p = heads.scene_probabilities(feature)[0]
        best = int(np.argmax(p))
        seen = Evidence("scene", f"{SCENES[best]} scene ({p[best]:.0%})", confidence=float(p[best]),
                        details={s: round(float(v), 4) for s, v in zip(SCENES, p)})
        return CueOutput(heads.scene_log_likelihood(p, grid)[0], (seen,))
