"""The `visual` cue (cell classifier, PlaNet / ISN) and the `scene` cue (indoor / natural / urban).

Both read the same backbone features and the same heads file; the cell heads give the visual
cue, the scene-conditioned biases give the scene cue, so the report shows each part's pull.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence, GeoPoint
from geosleuth.cues.heads import DEFAULT_HEADS, SCENES, CellHeads
from geosleuth.errors import GeosleuthError
from geosleuth.fusion.kernels import kernel_log_likelihood

if TYPE_CHECKING:
    from geosleuth.cues.backbone import Backbone
    from geosleuth.cues.gallery import Gallery
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

_LOCK = threading.Lock()
_HEADS: dict[str, CellHeads] = {}
_GALLERIES: dict[str, "Gallery"] = {}


def heads_path(spec: str | None) -> Path:
    return DEFAULT_HEADS if spec in (None, "", "default") else Path(spec).expanduser()


def load_heads(spec: str | None) -> CellHeads:
    path = str(heads_path(spec))
    with _LOCK:
        if path not in _HEADS:
            _HEADS[path] = CellHeads.load(path)
        return _HEADS[path]


def load_gallery(path: str) -> "Gallery":
    from geosleuth.cues.gallery import Gallery

    with _LOCK:
        if path not in _GALLERIES:
            _GALLERIES[path] = Gallery.load(path)
        return _GALLERIES[path]


class _FeatureCue(BaseCue):
    """Shared set-up: backbone + heads, loaded lazily and shared between cues and threads."""

    def __init__(self, backbone: str = "efficientnet_lite0", backbone_weights: str | None = "embedded",
                 heads: str | None = "default", image_size: int = 224) -> None:
        self.backbone = backbone
        self.backbone_weights = backbone_weights
        self.heads = heads
        self.image_size = image_size

    def available(self) -> tuple[bool, str]:
        import importlib.util

        missing = [m for m in ("torch", "timm") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"needs {', '.join(missing)} (pip install 'geosleuth[visual]')"
        if not heads_path(self.heads).is_file():
            return False, (f"no head weights at {heads_path(self.heads)}; train them with "
                           "`geosleuth train-classifier`")
        return True, "ready"

    def _features(self, photo: "Photo", grid: "CellGrid") -> tuple[np.ndarray, CellHeads] | str:
        """Features and heads, or the reason the cue must abstain."""
        from geosleuth.cues.backbone import get_backbone, photo_features

        ok, why = self.available()
        if not ok:
            return why
        try:
            heads = load_heads(self.heads)
            heads.check_grid(grid)
            trained_on = heads.meta.get("backbone", {})
            if trained_on.get("name", self.backbone) != self.backbone:
                return (f"the heads were trained on {trained_on.get('name')} features, "
                        f"not {self.backbone}")
            backbone: Backbone = get_backbone(self.backbone, self.backbone_weights, self.image_size)
        except GeosleuthError as exc:  # missing weights or packages, foreign heads, bad backbone name
            return str(exc)
        if backbone.dim != len(heads.mean):
            return f"the heads expect {len(heads.mean)} features, {self.backbone} gives {backbone.dim}"
        return photo_features(photo, backbone), heads


class VisualCue(_FeatureCue):
    """p(cell | pixels) from the cell heads, combined down the hierarchy; optional gallery search
    within the top cells for a precise coordinate."""

    name = "visual"
    default_weight = 1.0
    default_floor = 1e-3

    def __init__(self, backbone: str = "efficientnet_lite0", backbone_weights: str | None = "embedded",
                 heads: str | None = "default", image_size: int = 224, gallery: str | None = None,
                 gallery_cells: int = 5, gallery_neighbours: int = 10, cluster_km: float = 25.0) -> None:
        super().__init__(backbone, backbone_weights, heads, image_size)
        self.gallery = gallery
        self.gallery_cells = gallery_cells
        self.gallery_neighbours = gallery_neighbours
        self.cluster_km = cluster_km

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        got = self._features(photo, grid)
        if isinstance(got, str):
            return CueOutput.abstain(got)
        feature, heads = got
        ll = heads.visual_log_likelihood(feature, grid)[0]
        log_prior = grid.log_prior()
        posterior = log_prior + ll
        order = np.argsort(-posterior)
        top = order[: self.gallery_cells]
        # The three most probable distinct places, with posterior / prior: how much likelier the
        # pixels alone make them (before the cue's weight and floor).
        shown: list[int] = []
        for c in order[:50]:
            if len(shown) < 3 and grid.places[c] not in {grid.places[k] for k in shown}:
                shown.append(int(c))
        ratio = np.exp(posterior[shown] - np.logaddexp.reduce(posterior) - log_prior[shown])
        evidence = [Evidence("visual", "looks most like photos from " + "; ".join(
            f"{grid.places[c]} (×{r:.1f})" for c, r in zip(shown, ratio)),
            confidence=float(min(1.0, np.log10(max(ratio[0], 1.0)) / 2)),
            details={"cells": [grid.tokens[c] for c in shown], "ratios": [round(float(r), 2) for r in ratio]})]
        points: tuple[GeoPoint, ...] = ()
        if self.gallery:
            try:
                match = self._search_gallery(feature, grid, top[: self.gallery_cells])
            except GeosleuthError as exc:
                evidence.append(Evidence("warning", f"gallery not used: {exc}"))
            else:
                if match is not None:
                    sigma = max(match.spread_km, 1.0)
                    # The cluster is a located observation, trusted as far as its neighbours agree.
                    trust = match.members / match.neighbours * float(np.clip(match.similarity, 0.0, 1.0))
                    kernel = np.exp(kernel_log_likelihood(grid, match.lat, match.lon, sigma))
                    ll = ll + np.log1p(trust * (kernel / kernel.max() - 1.0) + 1e-12)
                    points = (GeoPoint(match.lat, match.lon, sigma, "gallery"),)
                    evidence.append(Evidence(
                        "gallery", f"{match.members} of {match.neighbours} nearest gallery photos near the top "
                        f"cells lie within {sigma:.0f} km of {match.lat:.4f}, {match.lon:.4f} "
                        f"(best similarity {match.similarity:.2f})", confidence=trust,
                        details={"lat": match.lat, "lon": match.lon, "neighbours": list(match.names[:5])}))
        return CueOutput(ll, tuple(evidence), points=points)

    def _search_gallery(self, feature: np.ndarray, grid: "CellGrid", top: np.ndarray):
        gallery = load_gallery(self.gallery)
        built_on = gallery.meta.get("backbone", {})
        if (built_on.get("name"), built_on.get("image_size")) != (self.backbone, self.image_size) \
                or gallery.features.shape[1] != len(feature):
            raise GeosleuthError(f"the gallery holds {built_on.get('name')} features, not {self.backbone}")
        # Search the middle-level cells around the top cells: fine cells are small where photos are dense.
        middle = grid.hierarchy["middle"]
        within = np.flatnonzero(np.isin(middle, middle[top]))
        return gallery.search(feature, grid, within, self.gallery_neighbours, self.cluster_km)


class SceneCue(_FeatureCue):
    """Indoor / natural / urban from the scene head; the scene-conditioned cell biases (ISN)."""

    name = "scene"
    default_weight = 1.0
    default_floor = 1e-2

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        got = self._features(photo, grid)
        if isinstance(got, str):
            return CueOutput.abstain(got)
        feature, heads = got
        p = heads.scene_probabilities(feature)[0]
        best = int(np.argmax(p))
        seen = Evidence("scene", f"{SCENES[best]} scene ({p[best]:.0%})", confidence=float(p[best]),
                        details={s: round(float(v), 4) for s, v in zip(SCENES, p)})
        return CueOutput(heads.scene_log_likelihood(p, grid)[0], (seen,))
