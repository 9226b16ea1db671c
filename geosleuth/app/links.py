"""Where an analyst checks a candidate next: coordinates to copy, with their uncertainty, where the
sun stood when the photo was taken, and links to the map, imagery, sun and OpenStreetMap-query
services. The report stays offline; the links work when the analyst is online."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from geosleuth.results import Prediction

OVERPASS_RADIUS_M = 1000  # named things around the point: the neighbourhood, not the whole cell


def coordinates(lat: float, lon: float, radius_km: float) -> str:
    """'48.856600, 2.352200 ± 36 km': what map tools accept pasted, and how far to look around."""
    around = f"{radius_km:,.0f} km" if radius_km >= 1 else f"{radius_km * 1000:,.0f} m"
    return f"{lat:.6f}, {lon:.6f} ± {around}"


def zoom_for(radius_km: float) -> int:
    """A web-map zoom level that shows a disc of `radius_km` (zoom 0 shows the world)."""
    return int(min(max(round(math.log2(40_000 / max(radius_km * 4, 0.05))), 2), 18))


def openstreetmap(lat: float, lon: float, radius_km: float) -> str:
    """OpenStreetMap at a point, zoomed to show `radius_km` around it."""
    z = zoom_for(radius_km)
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map={z}/{lat:.6f}/{lon:.6f}"


def links(lat: float, lon: float, radius_km: float, taken: str | None = None) -> dict[str, str]:
    """Name -> URL for one point. `taken`, the photo's local date and time ('2024-05-01 14:30:00'),
    sets SunCalc to the moment the photo was taken."""
    z = zoom_for(radius_km)
    at = f"{lat:.6f},{lon:.6f}"
    sun = f"https://www.suncalc.org/#/{at},{z}"
    if taken and len(taken) >= 16:
        sun += f"/{taken[:10].replace('-', '.')}/{taken[11:16]}/1/3"
    query = (f"[out:json][timeout:25];\nnwr(around:{OVERPASS_RADIUS_M},{at})[name];\nout center 200;")
    return {
        "OpenStreetMap": openstreetmap(lat, lon, radius_km),
        "Google Maps": f"https://www.google.com/maps/search/?api=1&query={at}",
        "Street View": f"https://www.google.com/maps/@?api=1&map_action=pano&viewpoint={at}",
        "Mapillary": f"https://www.mapillary.com/app/?lat={lat:.6f}&lng={lon:.6f}&z={z}",
        "SunCalc": sun,
        "Overpass": "https://overpass-turbo.eu/?Q=" + quote(query, safe="") + "&R",
    }


def taken_of(prediction: "Prediction") -> str | None:
    """The photo's local date and time as its EXIF says, if a cue read it."""
    return _camera_detail(prediction, "taken")


def sun_then(prediction: "Prediction", lat: float, lon: float) -> str:
    """'sun 253°, 45° high' at a point when the photo was taken: in UTC when the file has its
    offset, else at that wall-clock time in the point's own time zone; '' when unknown."""
    import datetime as dt

    from geosleuth.sun import sun_position

    taken, offset = taken_of(prediction), _camera_detail(prediction, "utc_offset")
    try:
        local = dt.datetime.fromisoformat(taken) if taken else None
        if local is None:
            return ""
        if offset:
            when = local.replace(tzinfo=dt.datetime.strptime(offset, "%z").tzinfo)
        else:
            from zoneinfo import ZoneInfo

            from geosleuth.gazetteer.timezones import zone_at

            when = local.replace(tzinfo=ZoneInfo(zone_at(lat, lon) or "UTC"))
    except (ValueError, KeyError):
        return ""
    azimuth, elevation = (float(v[0]) for v in sun_position([lat], [lon], when))
    return f"sun {azimuth:.0f}°, {elevation:.0f}° high" if elevation > 0 else f"sun down ({elevation:.0f}°)"


def _camera_detail(prediction: "Prediction", key: str) -> str | None:
    report = prediction.cues.get("exif")
    for evidence in report.evidence if report is not None else ():
        value = evidence.details.get(key)
        if isinstance(value, str):
            return value
    return None
