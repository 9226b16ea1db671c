"""Credible regions: the smallest set of cells, by posterior density, holding a given mass."""

from __future__ import annotations

import numpy as np


def credible_cells(posterior: np.ndarray, area_km2: np.ndarray, mass: float) -> np.ndarray:
    """Indices of the highest-posterior-density region: cells by probability per km², densest
    first, until `mass` of the posterior is reached.

    >>> credible_cells(np.array([0.5, 0.3, 0.2]), np.array([1.0, 10.0, 1.0]), 0.6).tolist()
    [0, 2]
    """
    density = posterior / np.maximum(area_km2, 1e-9)
    order = np.argsort(-density, kind="stable")
    n = int(np.searchsorted(np.cumsum(posterior[order]), mass * posterior.sum()) + 1)
    return order[:min(n, len(order))]
