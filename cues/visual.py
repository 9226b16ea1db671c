"""The `visual` cue: the global cell classifier, p(cell | pixels) as a likelihood over the grid,
from one of three backends (`cues.visual.backend`, each a `VisualBackend`):

- `heads`: the shared timm backbone and the cell heads trained on its features (PlaNet / ISN),
  with an optional search within its top cells of a gallery of geotagged photos;
- `geoclip`: GeoCLIP's probabilities over its GPS gallery, summed per cell;
- `clip_zero_shot`: a CLIP checkpoint's probabilities over prompts naming countries and regions.

Each backend's model assumes where photos are taken (its training or gallery distribution, or a
uniform prior over its classes); that assumption is divided out, so fusion counts the prior once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np

from geosleuth.cache import shared
from geosleuth.cues.base import BaseCue, CueOutput, Evidence, GeoPoint
from geosleuth.cues.engines.backbone import ImageFeatures
from geosleuth.cues.engines.gallery import Gallery
from geosleuth.cues.engines.geoclip import GeoClip
from geosleuth.cues.engines.heads import CellHeads
from geosleuth.cues.engines.zero_shot import ZeroShotClip
from geosleuth.errors import GeosleuthError
from geosleuth.fusion.kernels import kernel_log_likelihood
from geosleuth.gazetteer.countries import country_name

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

# A GeoCLIP gallery point stands for its neighbourhood: GeoCLIP puts about a third of Im2GPS3k
# photos within 25 km (published), so its points are claims: they place the answer in a cell, never make it exact.
GEOCLIP_POINT_KM = 25.0


class VisualBackend(Protocol):
    """One image-geolocation model, as the visual cue reads it (`cues.visual.backend`).
    Backends compare by their settings, not by the shared engine they read."""

    name: str  # its `cues.visual.backend` value

    @property
    def muted_note(self) -> str:
        """Why the cue says nothing at weight 0, and what would help."""
        ...

    def available(self) -> tuple[bool, str]: ...

    def prepare(self, photos: Sequence["Photo"]) -> None:
        """Run its model on several photos at once; what it computes is memoised on them."""
        ...

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        """Its log-likelihood over the grid's cells, or an abstention."""
        ...


class VisualCue(BaseCue):
    """p(cell | pixels) from the configured backend, as a likelihood over the grid's cells."""

    name = "visual"

    def __init__(self, *, backend: str, features: ImageFeatures, geoclip: GeoClip, zero_shot: ZeroShotClip,
                 gallery: str | None, gallery_cells: int, gallery_neighbours: int, cluster_km: float,
                 weight: float, floor: float) -> None:
        super().__init__(weight=weight, floor=floor)
        self.features = features
        self.geoclip = geoclip
        self.zero_shot = zero_shot
        backends = {b.name: b for b in (HeadsBackend(features, gallery, gallery_cells, gallery_neighbours, cluster_km),
                                        GeoClipBackend(geoclip), ZeroShotBackend(zero_shot))}
        if backend not in backends:
            raise GeosleuthError(f"cues.visual.backend: unknown backend {backend!r}; expected {' | '.join(backends)}")
        self.model: VisualBackend = backends[backend]

    @property
    def backend(self) -> str:
        """The `cues.visual.backend` setting."""
        return self.model.name

    @property
    def muted_note(self) -> str:
        """Why a cue at weight 0 says nothing, and what would help."""
        return self.model.muted_note

    def optional_models(self) -> dict[str, tuple[str, str]]:
        return {"gallery": (f"cues.{self.name}.gallery", "build one with `geosleuth gallery build`")}

    def available(self) -> tuple[bool, str]:
        ok, note = self.model.available()
        return ok, f"{self.model.name} backend: {note}"

    @property
    def batches(self) -> bool:
        return bool(self.weight)

    def prepare(self, photos: Sequence["Photo"]) -> None:
        """Run the backend's model on a batch of photos at once (results are memoised on them)."""
        if self.batches and photos and self.model.available()[0]:
            self.model.prepare(photos)

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        if not self.weight:
            return CueOutput.abstain(self.muted_note)
        return self.model.observe(photo, grid)


@dataclass(frozen=True)
class HeadsBackend:
    """The shared image features and the cell heads trained on them (PlaNet / ISN), with an
    optional search within the top cells of a gallery of geotagged photos."""

    name = "heads"
    muted_note = ("weight 0: the shipped heads (EfficientNet-Lite0 features, 1,180 training photos) lowered "
                  "GeoScore on photographers they never saw, so they do not move the answer. A strong "
                  "image-geolocation model helps: --config geoclip or --config clip-zero-shot (see the README, "
                  "\"A stronger visual prior\"), or heads trained with `geosleuth train-classifier` on a large "
                  "geotagged photo set, measured with `geosleuth calibrate`, then cues.visual.weight above 0.")

    features: ImageFeatures = field(compare=False)
    gallery: str | None
    gallery_cells: int
    gallery_neighbours: int
    cluster_km: float

    def available(self) -> tuple[bool, str]:
        return self.features.available()

    def prepare(self, photos: Sequence["Photo"]) -> None:
        self.features.embed(photos)

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        got = self.features.of(photo, grid)
        if isinstance(got, str):
            return CueOutput.abstain(got)
        return self.read(*got, grid)

    def read(self, feature: np.ndarray, heads: CellHeads, grid: "CellGrid") -> CueOutput:
        ll = heads.visual_log_likelihood(feature, grid)[0]
        top = np.argsort(-(grid.log_prior() + ll))[: self.gallery_cells]
        evidence = [looks_like(grid, ll, f"the cell heads on {self.features.backbone}")[0]]
        points: tuple[GeoPoint, ...] = ()
        if self.gallery:
            try:
                match = self._search_gallery(feature, grid, top)
            except GeosleuthError as exc:
                evidence.append(Evidence("warning", f"gallery not used: {exc}"))
            else:
                if match is not None:
                    sigma = max(match.spread_km, 1.0)
                    # The cluster is a located observation, trusted as far as its neighbours agree.
                    trust = match.members / match.neighbours * float(np.clip(match.similarity, 0.0, 1.0))
                    kernel = np.exp(kernel_log_likelihood(grid, match.lat, match.lon, sigma))
                    ll = ll + np.log1p(trust * (kernel / kernel.max() - 1.0) + 1e-12)
                    points = (GeoPoint(match.lat, match.lon, sigma, "gallery", claim=True),)
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


class ClipBackend:
    """A backend over a CLIP model (`engine`) that may be missing here: it abstains, saying why."""

    name: str
    engine: GeoClip | ZeroShotClip

    @property
    def muted_note(self) -> str:
        return (f"weight 0: the {self.name} backend is selected but muted; use --config "
                f"{self.name.replace('_', '-')} or set cues.visual.weight (1.0 trusts the model as it was trained)")

    def available(self) -> tuple[bool, str]:
        return self.engine.available()

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        ok, why = self.engine.available()
        if not ok:
            return CueOutput.abstain(why)
        try:
            return self.read(photo, grid)
        except GeosleuthError as exc:  # weights missing after all, a bad device or prompt file
            return CueOutput.abstain(str(exc))

    def read(self, photo: "Photo", grid: "CellGrid") -> CueOutput:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class GeoClipBackend(ClipBackend):
    """GeoCLIP's probabilities over its GPS gallery, summed per cell."""

    name = "geoclip"
    engine: GeoClip = field(compare=False)

    def prepare(self, photos: Sequence["Photo"]) -> None:
        self.engine.probabilities(photos)

    def read(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        model = self.engine.loaded()
        p = self.engine.probabilities([photo])[0]
        cells = grid.memo(f"geoclip-gallery-cells-{id(model)}", lambda: grid.lookup(*model.gallery.T))
        ll = gallery_log_likelihood(p, cells, len(grid))
        looks, shown = looks_like(grid, ll, f"GeoCLIP on {self.engine.model}")
        points = []
        for c in shown:
            inside = np.flatnonzero(cells == c)
            if len(inside):
                g = inside[np.argmax(p[inside])]
                points.append(GeoPoint(float(model.gallery[g, 0]), float(model.gallery[g, 1]), GEOCLIP_POINT_KM,
                                       "GeoCLIP gallery point", claim=True))
        best = int(np.argmax(p))
        seen = Evidence("geoclip", f"best gallery point {model.gallery[best, 0]:.4f}, {model.gallery[best, 1]:.4f} "
                        f"({p[best]:.1%} of GeoCLIP's probability; {model.device})", confidence=float(p[best]),
                        details={"lat": float(model.gallery[best, 0]), "lon": float(model.gallery[best, 1]),
                                 "model": self.engine.model, "device": model.device})
        return CueOutput(ll, (looks, seen), points=tuple(points))


@dataclass(frozen=True)
class ZeroShotBackend(ClipBackend):
    """A CLIP checkpoint's probabilities over prompts naming countries and regions."""

    name = "clip_zero_shot"
    engine: ZeroShotClip = field(compare=False)

    def prepare(self, photos: Sequence["Photo"]) -> None:
        self.engine.image_embeddings(photos)

    def read(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        classes = grid.memo(f"zero-shot-classes-{self.engine.prompts}",
                            lambda: ZeroShotClasses.of(grid, self.engine.templates))
        p_country = self.engine.probabilities(photo, classes.country_prompts)
        p_region = self.engine.probabilities(photo, classes.region_prompts) if classes.region_prompts else None
        ll = classes.log_likelihood(grid, p_country, p_region)
        order = np.argsort(-p_country)[:3]
        said = "; ".join(f"{country_name(grid.countries[k])} {p_country[k]:.0%}" for k in order)
        evidence = [Evidence("zero_shot", f"CLIP zero-shot on {self.engine.model}: {said}",
                             confidence=float(p_country[order[0]]),
                             details={"model": self.engine.model,
                                      "countries": {grid.countries[k]: round(float(p_country[k]), 4) for k in order}})]
        if p_region is not None:
            r = int(np.argmax(np.where(classes.region_country == order[0], p_region, -1.0)))
            if classes.region_country[r] == order[0]:
                within = p_region[r] / p_region[classes.region_country == order[0]].sum()
                evidence.append(Evidence("zero_shot", f"within {country_name(grid.countries[order[0]])}: "
                                         f"{classes.regions[r]} {within:.0%}", confidence=float(within)))
        return CueOutput(ll, (looks_like(grid, ll, f"CLIP zero-shot on {self.engine.model}")[0], *evidence))


def looks_like(grid: "CellGrid", ll: np.ndarray, by: str) -> tuple[Evidence, list[int]]:
    """The three most probable distinct places under the prior and this likelihood alone (returned),
    and, as evidence, those the pixels make at least 1.1 times likelier (posterior / prior, before
    the cue's weight and floor), the likeliest first."""
    log_prior = grid.log_prior()
    posterior = log_prior + ll
    shown: list[int] = []
    for c in np.argsort(-posterior)[:50]:
        if len(shown) < 3 and grid.places[c] not in {grid.places[k] for k in shown}:
            shown.append(int(c))
    ratio = np.exp(posterior[shown] - np.logaddexp.reduce(posterior) - log_prior[shown])
    order = [k for k in np.argsort(-ratio) if ratio[k] >= 1.1]  # x1.0 is no evidence
    said, ratio = [shown[k] for k in order], ratio[order]
    if not said:
        return Evidence("visual", f"no place looks likelier than the prior says ({by})", 0.0,
                        details={"cells": [], "ratios": []}), shown
    return Evidence("visual", "looks most like photos from " + "; ".join(
        f"{grid.places[c]} (×{r:.1f})" for c, r in zip(said, ratio)) + f" ({by})",
        confidence=float(min(1.0, np.log10(ratio[0]) / 2)),
        details={"cells": [grid.tokens[c] for c in said], "ratios": [round(float(r), 2) for r in ratio]}), shown


def gallery_log_likelihood(p: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
    """log L(c) = log[(G q(c) + 1) / (n(c) + 1)] from probabilities `p` over G gallery points
    lying in `cells`: q(c) is the model's mass in cell c and n(c) its gallery points.

    A softmax over a gallery assumes photos are taken where its points are: a photo that tells
    the model nothing gives every point 1/G, so a cell gets n(c) / G, its share of the gallery.
    That share is the model's prior, divided out here; one pseudo-point per cell keeps cells
    without gallery points neutral (L = 1) instead of impossible."""
    q = np.bincount(cells, weights=p, minlength=n_cells)
    return np.log1p(len(p) * q) - np.log1p(np.bincount(cells, minlength=n_cells))


@dataclass(frozen=True)
class ZeroShotClasses:
    """The zero-shot classes of a grid: its countries, and the admin-1 regions its places name
    in countries with two or more, each with the prompts that describe it."""

    country_prompts: tuple[tuple[str, ...], ...]  # one prompt set per grid.countries entry
    regions: tuple[str, ...]  # region names
    region_country: np.ndarray  # each region's index into grid.countries
    region_prompts: tuple[tuple[str, ...], ...]
    cell_region: np.ndarray  # each cell's region index, -1 where none

    @classmethod
    def of(cls, grid: "CellGrid", templates: Mapping[str, Any]) -> "ZeroShotClasses":
        names = {code: templates.get("names", {}).get(code) or country_name(code) for code in grid.countries}
        country_prompts = tuple(tuple(t.format(country=names[code]) for t in templates["country"])
                                for code in grid.countries)
        index = {code: k for k, code in enumerate(grid.countries)}
        keys = [(parts[-1], parts[-2]) if len(parts) >= 3 and parts[-1] in index else None
                for parts in (place.split(", ") for place in grid.places)]
        per_country: dict[str, set[str]] = {}
        for key in filter(None, keys):
            per_country.setdefault(key[0], set()).add(key[1])
        regions = sorted((code, region) for code, found in per_country.items() if len(found) >= 2 for region in found) \
            if templates.get("region") else []
        number = {key: r for r, key in enumerate(regions)}
        return cls(country_prompts, tuple(region for _, region in regions),
                   np.array([index[code] for code, _ in regions], dtype=np.int64),
                   tuple(tuple(t.format(region=region, country=names[code]) for t in templates["region"])
                         for code, region in regions),
                   np.array([number.get(key, -1) if key else -1 for key in keys], dtype=np.int64))

    def log_likelihood(self, grid: "CellGrid", p_country: np.ndarray, p_region: np.ndarray | None) -> np.ndarray:
        """log L(c) from p(country | photo) and p(region | photo): each divided by the uniform
        prior over its classes that zero-shot classification assumes (1/K over countries, 1/R_k
        over a country's regions); a cell's share of no country stays neutral."""
        k = len(p_country)
        spread = grid.cells_from_countries(k * p_country) + (1.0 - grid.cells_from_countries(np.ones(k)))
        ll = np.log(np.maximum(spread, 1e-300))
        if p_region is not None and len(self.regions):
            in_country = np.bincount(self.region_country, weights=p_region, minlength=k)[self.region_country]
            count = np.bincount(self.region_country, minlength=k)[self.region_country]
            ratio = p_region / np.maximum(in_country, 1e-300) * count
            has = self.cell_region >= 0
            ll[has] += np.log(np.maximum(ratio[self.cell_region[has]], 1e-300))
        return ll
