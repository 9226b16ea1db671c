"""Cell and scene heads on backbone features (PlaNet / ISN), evaluated in numpy.

Each grid level (coarse, middle, fine) has a linear head over a shared low-rank projection of
the features. A head's logits are log-likelihood ratios against the grid's photo-density prior
(training adds the log prior as a fixed bias), so they plug into fusion as a likelihood, with
no training prior to divide out. The levels are combined down the hierarchy (ISN): a fine cell
scores the sum of its own, its middle and its coarse ancestor's ratios.

Scene conditioning (ISN): a scene head gives p(indoor, natural, urban); each scene adds its own
bias per cell, mixed by those probabilities. That part is reported as the `scene` cue.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geosleuth.artifact import read_artifact, write_artifact
from geosleuth.errors import GeosleuthError
from geosleuth.fusion.grid import HIERARCHY

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

HEADS_FORMAT = "geosleuth.heads/1"
SCENES = ("indoor", "natural", "urban")
DEFAULT_HEADS = Path(__file__).parents[1] / "data" / "visual_heads_v1.npz"


def grid_fingerprint(grid: "CellGrid") -> str:
    """Identifies a grid's cells, so heads are never applied to another grid."""
    return hashlib.sha1(np.ascontiguousarray(grid.ids).tobytes()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class CellHeads:
    mean: np.ndarray  # (dim,) feature standardisation
    scale: np.ndarray  # (dim,)
    projection: np.ndarray  # (dim, k)
    cells: dict[str, np.ndarray]  # level -> (k, n_level) weights
    scene_bias: dict[str, np.ndarray]  # level -> (3, n_level)
    scene_weight: np.ndarray  # (dim, 3)
    scene_offset: np.ndarray  # (3,)
    meta: dict[str, Any] = field(default_factory=dict)  # backbone, grid fingerprint, training record

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(features).astype(np.float32) - self.mean) / self.scale

    def scene_probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities of indoor / natural / urban."""
        z = self._standardise(features) @ self.scene_weight + self.scene_offset
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def level_ratios(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Per level, (n, n_level) visual log-likelihood ratios."""
        h = self._standardise(features) @ self.projection
        return {level: h @ w for level, w in self.cells.items()}

    def visual_log_likelihood(self, features: np.ndarray, grid: "CellGrid") -> np.ndarray:
        """(n, n_cells): the hierarchy-combined visual ratios on the finest cells."""
        return combine_levels(self.level_ratios(features), grid)

    def scene_log_likelihood(self, scene_p: np.ndarray, grid: "CellGrid") -> np.ndarray:
        """(n, n_cells): the scene-conditioned biases, mixed by scene probabilities."""
        return combine_levels({lv: np.atleast_2d(scene_p) @ b for lv, b in self.scene_bias.items()}, grid)

    def check_grid(self, grid: "CellGrid") -> None:
        if self.meta.get("grid") != grid_fingerprint(grid):
            raise GeosleuthError("these heads were trained for another cell grid; retrain them with "
                                 "`geosleuth train-classifier` on this grid")

    def save(self, path: str | Path) -> None:
        arrays = {"mean": self.mean, "scale": self.scale, "projection": self.projection,
                  "scene_weight": self.scene_weight, "scene_offset": self.scene_offset}
        for level in self.cells:
            arrays[f"cells_{level}"] = self.cells[level]
            arrays[f"scene_bias_{level}"] = self.scene_bias[level]
        write_artifact(path, HEADS_FORMAT, self.meta, {k: v.astype(np.float16) for k, v in arrays.items()})

    @classmethod
    def load(cls, path: str | Path) -> "CellHeads":
        meta, z = read_artifact(path, HEADS_FORMAT, "visual heads file")
        arr = {k: v.astype(np.float32) for k, v in z.items()}
        levels = [lv for lv in HIERARCHY if f"cells_{lv}" in arr]
        try:
            return cls(arr["mean"], arr["scale"], arr["projection"], {lv: arr[f"cells_{lv}"] for lv in levels},
                       {lv: arr[f"scene_bias_{lv}"] for lv in levels}, arr["scene_weight"], arr["scene_offset"],
                       meta)
        except KeyError as exc:
            raise GeosleuthError(f"visual heads file {path} lacks {exc}") from exc

    def scaled(self, temperature: float) -> "CellHeads":
        """The same heads with every cell ratio multiplied by `temperature`."""
        return replace(self, cells={k: v * temperature for k, v in self.cells.items()},
                       scene_bias={k: v * temperature for k, v in self.scene_bias.items()})


def combine_levels(ratios: dict[str, np.ndarray], grid: "CellGrid") -> np.ndarray:
    """Sum each level's ratios at every fine cell's ancestor (the ISN product, in log space)."""
    total = None
    for level, r in ratios.items():
        term = np.atleast_2d(r)[:, grid.hierarchy[level]]
        total = term if total is None else total + term
    return total
