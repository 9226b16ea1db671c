"""GeoCLIP (Vivanco et al., NeurIPS 2023) through the `geoclip` package: a photo's probability
over a gallery of GPS points (`GeoClip`, built once per pipeline, loaded on first use).

The package's wheel ships the location encoder, the logit scale, the image MLP and the gallery
(100,000 MP-16 coordinates); the image side is CLIP ViT-L/14 loaded through `transformers` from
the configured checkpoint (see `engines.clip`). The gallery's location embeddings depend only on
the package's weights, so they are computed once per machine and cached.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from geosleuth.cache import shared
from geosleuth.cues.engines.clip import (INSTALL, availability, cached_array, checkpoint_folder, fingerprint,
                                         pick_device, quiet_loading, require_transformers)
from geosleuth.errors import MissingDependencyError
from geosleuth.photo import Photo

@dataclass(frozen=True, eq=False)
class LoadedGeoClip:
    """A GeoCLIP model ready for inference, with its gallery's normalised location embeddings."""

    model: Any  # geoclip.GeoCLIP, eval mode, on `device`
    device: str
    gallery: np.ndarray  # (G, 2) latitude, longitude
    gallery_embeddings: Any  # torch (G, 512), unit rows, on `device`
    logit_scale: float

    @classmethod
    def of(cls, model: Any, device: str) -> "LoadedGeoClip":
        """A `geoclip.GeoCLIP` moved to `device`, with its gallery embedded (cached on disk)."""
        import torch
        from geoclip.model import misc

        model = model.eval().to(device)
        package = Path(misc.file_dir)
        key = fingerprint(package / "weights" / "location_encoder_weights.pth",
                          package / "gps_gallery" / "coordinates_100K.csv", len(model.gps_gallery))

        def embed_gallery() -> np.ndarray:
            with torch.inference_mode():
                chunks = [model.location_encoder(chunk) for chunk in model.gps_gallery.split(8192)]
                return torch.nn.functional.normalize(torch.cat(chunks).float(), dim=1).cpu().numpy().astype(np.float16)

        embeddings = torch.from_numpy(cached_array("geoclip-gallery", key, embed_gallery).astype(np.float32))
        return cls(model, device, model.gps_gallery.cpu().numpy().astype(np.float64), embeddings.to(device),
                   float(model.logit_scale.detach().exp()))

    def probabilities(self, images: Sequence[Any]) -> np.ndarray:
        """(n, G) probability of each gallery point for each PIL image."""
        import torch

        encoder = self.model.image_encoder
        with torch.inference_mode():
            pixels = encoder.preprocess_image([im.convert("RGB") for im in images]).to(self.device)
            embedded = torch.nn.functional.normalize(encoder(pixels).float(), dim=1)
            logits = self.logit_scale * embedded @ self.gallery_embeddings.T
            return torch.softmax(logits, dim=1).cpu().numpy()


class GeoClip:
    """The config's `geoclip` section: which CLIP checkpoint GeoCLIP's image side loads, whether
    it may be downloaded, and the device."""

    def __init__(self, model: str, allow_download: bool, device: str) -> None:
        self.model = model
        self.allow_download = allow_download
        self.device = device

    def __repr__(self) -> str:
        return f"GeoClip({self.model!r})"

    def available(self) -> tuple[bool, str]:
        """Whether the packages and weights are here (never downloads)."""
        return availability(self.model, allow_download=self.allow_download, setting="geoclip.model",
                            packages=("geoclip", "transformers", "torch"),
                            described=f"GeoCLIP (100,000-point MP-16 gallery) on CLIP {self.model}")

    def loaded(self) -> LoadedGeoClip:
        """The model, loaded once per process and settings."""
        return shared(("geoclip", self.model, self.device), self._load)

    def probabilities(self, photos: Sequence[Photo]) -> list[np.ndarray]:
        """Each photo's (G,) gallery probabilities, computed in one batch and memoised on the photo."""
        return Photo.memo_many(photos, (self, "gallery_probabilities"),
                               lambda todo: list(self.loaded().probabilities([p.image for p in todo])))

    def _load(self) -> LoadedGeoClip:
        require_transformers()
        try:
            with warnings.catch_warnings():  # its Fourier-feature layer is built with torch.jit.script
                warnings.simplefilter("ignore", FutureWarning)
                from geoclip import GeoCLIP
        except ImportError as exc:
            raise MissingDependencyError(f"the geoclip backend needs the geoclip package ({INSTALL})") from exc

        folder = checkpoint_folder(self.model, allow_download=self.allow_download, setting="geoclip.model")
        with quiet_loading():
            model = GeoCLIP(from_pretrained=True, clip_path=str(folder))
        return LoadedGeoClip.of(model, pick_device(self.device))
