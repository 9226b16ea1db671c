"""The `visual` cue: the cell classifier (PlaNet / ISN) over the shared image model, with an
optional search within its top cells of a gallery of geotagged photos for a precise point."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cache import shared
from geosleuth.cues.base import CueOutput, Evidence, GeoPoint
from geosleuth.cues.engines.backbone import ImageFeatures
from geosleuth.cues.engines.gallery import Gallery
from geosleuth.cues.engines.heads import CellHeads
from geosleuth.cues.image_cue import ImageFeatureCue
from geosleuth.errors import GeosleuthError
from geosleuth.fusion.kernels import kernel_log_likelihood

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid


class VisualCue(ImageFeatureCue):
    """p(cell | pixels) from the cell heads, combined down the hierarchy; optional gallery search
    within the top cells for a precise coordinate."""

    name = "visual"
    # Why the shipped default does not use it, and what would help.
    muted_note = ("weight 0: the shipped heads (EfficientNet-Lite0 features, 1,180 training photos) lowered "
                  "GeoScore on photographers they never saw, so they do not move the answer. A strong "
                  "image-geolocation model would help (GeoCLIP-class, or heads trained with `geosleuth "
                  "train-classifier` on a large geotagged photo set); set cues.visual.weight above 0 to "
                  "use heads you have measured with `geosleuth calibrate`.")

    def __init__(self, *, features: ImageFeatures, gallery: str | None, gallery_cells: int,
                 gallery_neighbours: int, cluster_km: float, weight: float, floor: float) -> None:
        super().__init__(features=features, weight=weight, floor=floor)
        self.gallery = gallery
        self.gallery_cells = gallery_cells
        self.gallery_neighbours = gallery_neighbours
        self.cluster_km = cluster_km

    def read(self, feature: np.ndarray, heads: CellHeads, grid: "CellGrid") -> CueOutput:
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
        path = str(Path(self.gallery).expanduser())
        gallery = shared(("gallery", path), lambda: Gallery.load(path))
        built_on = gallery.meta.get("backbone", {})
        backbone = self.features.backbone
        if (built_on.get("name"), built_on.get("image_size")) != (backbone, self.features.image_size) \
                or gallery.features.shape[1] != len(feature):
            raise GeosleuthError(f"the gallery holds {built_on.get('name')} features, not {backbone}")
        # Search the middle-level cells around the top cells: fine cells are small where photos are dense.
        middle = grid.hierarchy["middle"]
        within = np.flatnonzero(np.isin(middle, middle[top]))
        return gallery.search(feature, grid, within, self.gallery_neighbours, self.cluster_km)
