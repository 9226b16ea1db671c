"""Batch at scale with Ray Data (`pip install "geosleuth[ray]"`): the same pipeline as
`Geolocator.locate_many`, one pipeline per Ray actor, over a dataset of image paths.

>>> import ray                                                  # doctest: +SKIP
>>> ds = locate_dataset(["a.jpg", "b.jpg"], config="default")   # doctest: +SKIP
>>> ds.take_all()[0]["country"]                                 # doctest: +SKIP
'FR'

Rows out: path, ok, error, lat, lon, country, probability and `prediction` (the JSON of
`Prediction.to_dict()`, empty for a failed row). A bad file becomes a failed row, never a failed job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from geosleuth.api import Geolocator
from geosleuth.config import load_config
from geosleuth.errors import MissingDependencyError
from geosleuth.hints import Hint
from geosleuth.libraries import contain, keep_ray_token

if TYPE_CHECKING:
    import ray.data


def _ray_data() -> Any:
    contain()  # Ray's usage statistics off
    keep_ray_token()
    try:
        import ray.data
    except ImportError:
        raise MissingDependencyError("the Ray adapter needs ray[data]: pip install 'geosleuth[ray]'") from None
    return ray.data


class _Locator:
    """A Ray Data callable class: builds its pipeline once per actor, then locates batches."""

    def __init__(self, config: Mapping[str, Any], column: str, hints: Sequence[str]) -> None:
        self.geo = Geolocator(dict(config))
        self.column = column
        self.hints = [Hint.parse(h) for h in hints]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        for item in self.geo.locate_many([str(p) for p in batch[self.column]], workers=1, hints=self.hints):
            best = item.prediction.best if item.ok else None
            rows.append({"path": item.source, "ok": item.ok, "error": item.error or "",
                         "lat": best.lat if best else np.nan, "lon": best.lon if best else np.nan,
                         "country": best.country if best else "", "probability": best.probability if best else np.nan,
                         "confidence": item.prediction.confidence.level if item.ok else "",
                         "prediction": item.prediction.to_json(indent=None) if item.ok else ""})
        return {key: np.array([r[key] for r in rows]) for key in rows[0]} if rows else {}


def locate_dataset(images: "Iterable[str] | ray.data.Dataset", *, config: str | Mapping[str, Any] = "default",
                   sets: Sequence[str] = (), hints: Sequence[str] = (), column: str = "path", batch_size: int = 16,
                   concurrency: int = 1, num_cpus: float = 1.0) -> "ray.data.Dataset":
    """A lazy Ray dataset of predictions: pass image paths, or a Dataset with a `column` of paths.

    The config is resolved and validated here, on the driver, so a bad key fails before any
    worker starts; each of `concurrency` actors then builds one pipeline and keeps it.
    """
    rd = _ray_data()
    resolved = load_config(config, sets=tuple(sets))
    for h in hints:
        Hint.parse(h)  # fail early on a bad hint
    ds = images if isinstance(images, rd.Dataset) else rd.from_items([{column: str(p)} for p in images])
    return ds.map_batches(_Locator, fn_constructor_kwargs={"config": resolved, "column": column, "hints": list(hints)},
                          batch_size=batch_size, concurrency=concurrency, num_cpus=num_cpus, batch_format="numpy")
