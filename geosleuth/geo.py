"""Spherical geometry helpers: the one place for Earth radius, haversine and unit vectors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle distance in km; broadcasts like numpy.

    >>> round(float(haversine_km(48.8566, 2.3522, 51.5074, -0.1278)))
    344
    """
    p1, l1, p2, l2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def destination(lat: float, lon: float, distance_km: ArrayLike, bearing_rad: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Where a great circle from (lat, lon) leads after `distance_km` at initial `bearing_rad`.

    >>> [round(float(v), 2) for v in destination(0.0, 0.0, 111.19, np.pi / 2)]
    [0.0, 1.0]
    """
    d = np.asarray(distance_km, dtype=np.float64) / EARTH_RADIUS_KM
    b = np.asarray(bearing_rad, dtype=np.float64)
    p1, l1 = np.radians(lat), np.radians(lon)
    p2 = np.arcsin(np.clip(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(b), -1.0, 1.0))
    l2 = l1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return np.degrees(p2), (np.degrees(l2) + 180.0) % 360.0 - 180.0


def valid_point(lat: float, lon: float) -> bool:
    """Whether a latitude and longitude in degrees are finite and in range.

    >>> valid_point(48.85, 2.35), valid_point(95.0, 0.0), valid_point(float("nan"), 0.0)
    (True, False, False)
    """
    return bool(np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180)


def to_xyz(lat: ArrayLike, lon: ArrayLike) -> np.ndarray:
    """Unit vectors (..., 3) for latitudes/longitudes in degrees."""
    phi, lam = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)


def from_xyz(xyz: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude in degrees of (not necessarily unit) vectors (..., 3)."""
    v = np.asarray(xyz, dtype=np.float64)
    lat = np.degrees(np.arctan2(v[..., 2], np.hypot(v[..., 0], v[..., 1])))
    lon = np.degrees(np.arctan2(v[..., 1], v[..., 0]))
    return lat, lon


def spherical_mean(lat: ArrayLike, lon: ArrayLike) -> tuple[float, float]:
    """Mean location on the sphere (normalised mean of unit vectors)."""
    lat_m, lon_m = from_xyz(to_xyz(lat, lon).mean(axis=0))
    return float(lat_m), float(lon_m)
