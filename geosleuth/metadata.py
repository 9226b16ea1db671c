"""Photo metadata, parsed once per photo and shared by every cue: GPS, time, camera, software.

Reads the EXIF that Pillow exposes for JPEG, PNG, WebP, TIFF (and HEIC with pillow-heif), plus
XMP GPS / dates / creator tool. Every value found in the wild is tolerated: IFDRationals, (num,
den) pairs, floats, strings like "43/1", decimal degrees or degrees-minutes-seconds, refs as
str or bytes. Impossible values are rejected with the reason kept for the report.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

# EXIF tag ids (IFD0, Exif IFD, GPS IFD)
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, MODEL, SOFTWARE, DATETIME = 0x010F, 0x0110, 0x0131, 0x0132
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004
OFFSET_TIME, OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9010, 0x9011, 0x9012
LENS_MAKE, LENS_MODEL = 0xA433, 0xA434
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4
GPS_ALT_REF, GPS_ALT, GPS_DOP, GPS_H_ERROR = 5, 6, 11, 31

DEFAULT_ACCURACY_M = 50.0
UERE_M = 5.0  # user-equivalent range error: horizontal error ~ DOP x 5 m

# Software that rewrites pixels or metadata (lower-case substrings).
EDITORS = ("photoshop", "lightroom", "gimp", "snapseed", "affinity", "pixelmator", "luminar", "darktable",
           "rawtherapee", "paint.net", "photoscape", "fotor", "canva", "fireworks", "exiftool", "exiv2",
           "piexif", "geosetter", "capture one", "acdsee", "corel", "picsart", "facetune", "vsco", "polarr",
           "photos.app", "picasa", "imagemagick", "geosleuth")


@dataclass(frozen=True)
class GpsFix:
    lat: float
    lon: float
    accuracy_m: float  # 1-sigma horizontal error used for the kernel
    source: str  # "EXIF" or "XMP"
    accuracy_from: str  # "GPSHPositioningError", "GPSDOP" or "default"
    altitude_m: float | None = None


@dataclass(frozen=True)
class Metadata:
    """What the file says about itself. `problems` lists what was present but unusable."""

    has_exif: bool = False
    exif_error: str | None = None  # set when an EXIF block exists but could not be parsed
    gps: GpsFix | None = None
    taken: dt.datetime | None = None  # local time, naive
    taken_tag: str | None = None
    utc_offset: dt.timedelta | None = None
    offset_tag: str | None = None
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    software: str | None = None  # EXIF Software or XMP CreatorTool
    problems: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)  # JSON-safe summary for the report

    @property
    def editor(self) -> str | None:
        """The editing tool named in the metadata, if any."""
        sw = (self.software or "").lower()
        return self.software if any(e in sw for e in EDITORS) else None


# ---- value parsing ------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text or None


def _number(value: Any) -> float:
    """One rational in any form -> float (nan when undefined, e.g. 0/0)."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        num, den = value
        return num / den if den else math.nan
    if isinstance(value, (bytes, str)):
        s = _text(value) or ""
        if "/" in s:
            num, _, den = s.partition("/")
            return float(num) / float(den) if float(den) else math.nan
        return float(s)
    try:
        return float(value)  # int, float, IFDRational (0/0 -> nan)
    except ZeroDivisionError:
        return math.nan


def _sequence(value: Any) -> list[float]:
    if isinstance(value, (bytes, str)):
        parts = [p for p in re.split(r"[,\s]+", _text(value) or "") if p]
        return [_number(p) for p in parts]
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(isinstance(v, int) for v in value):
            return [_number(value)]  # a single raw (num, den) pair
        return [_number(v) for v in value]
    return [_number(value)]


def parse_coordinate(value: Any, ref: Any, axis: str) -> float:
    """Degrees from decimal / DM / DMS in any rational form and an N/S/E/W ref (ValueError if impossible)."""
    if value is None:
        raise ValueError(f"{axis} is missing")
    parts = _sequence(value)
    if not parts or len(parts) > 3:
        raise ValueError(f"{axis} has {len(parts)} components")
    if any(math.isnan(p) or math.isinf(p) for p in parts):
        raise ValueError(f"{axis} is undefined (a zero denominator or NaN)")
    deg, minutes, seconds = (parts + [0.0, 0.0])[:3]
    if not (0 <= minutes < 60 and 0 <= seconds < 60):
        raise ValueError(f"{axis} minutes/seconds out of range ({minutes}, {seconds})")
    sign = -1.0 if deg < 0 else 1.0
    degrees = abs(deg) + minutes / 60 + seconds / 3600
    r = (_text(ref) or "").upper()[:1]
    valid_refs = "NS" if axis == "latitude" else "EW"
    if r and r not in valid_refs:
        raise ValueError(f"{axis} ref {r!r} is not one of {'/'.join(valid_refs)}")
    if r in ("S", "W"):
        sign = -1.0
    elif r in ("N", "E"):
        sign = 1.0
    degrees *= sign
    limit = 90 if axis == "latitude" else 180
    if abs(degrees) > limit:
        raise ValueError(f"{axis} {degrees:.6f} is out of range")
    return degrees


def parse_offset(value: Any) -> dt.timedelta:
    """'+02:00', '-0530', 'Z' -> timedelta (ValueError when malformed or beyond +-14 h)."""
    s = _text(value) or ""
    if s.upper() == "Z":
        return dt.timedelta(0)
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})", s)
    if not m:
        raise ValueError(f"offset {s!r} is not like +HH:MM")
    delta = dt.timedelta(hours=int(m[2]), minutes=int(m[3]))
    if delta > dt.timedelta(hours=14) or int(m[3]) >= 60:
        raise ValueError(f"offset {s!r} is out of range")
    return -delta if m[1] == "-" else delta


def parse_datetime(value: Any) -> dt.datetime:
    s = (_text(value) or "")[:19]
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            return dt.datetime.strptime(s[: len(dt.datetime(2000, 1, 1).strftime(fmt))], fmt)
        except ValueError:
            continue
    raise ValueError(f"date {s!r} is not a valid date and time")


# ---- XMP ------------------------------------------------------------------------------------
def _xmp_value(xmp: str, name: str) -> str | None:
    m = re.search(rf'{name}\s*=\s*"([^"]*)"', xmp) or re.search(rf"<{name}>([^<]*)</{name}>", xmp)
    return m.group(1).strip() if m else None


def _xmp_coordinate(text: str, axis: str) -> float:
    """XMP GPS coordinates: 'DDD,MM.mmmk' or 'DDD,MM,SSk' with k in NSEW, or signed decimal."""
    m = re.fullmatch(r"\s*([\d.]+),([\d.]+)(?:,([\d.]+))?\s*([NSEWnsew])\s*", text)
    if m:
        parts = [m[1], m[2]] + ([m[3]] if m[3] else [])
        return parse_coordinate(",".join(parts), m[4], axis)
    return parse_coordinate(text, None, axis)


# ---- the parse ------------------------------------------------------------------------------
def read_metadata(exif: Any, info: dict[str, Any]) -> Metadata:
    """Parse a Pillow `Exif` and the container's info dict (for XMP) into `Metadata`."""
    problems: list[str] = []
    fields: dict[str, Any] = {}
    has_exif = bool(info.get("exif")) or bool(exif)
    exif_error = None
    ifd0: dict[int, Any] = {}
    sub: dict[int, Any] = {}
    gps: dict[int, Any] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if exif is not None:
                ifd0 = dict(exif.items())
                sub = dict(exif.get_ifd(EXIF_IFD).items())
                gps = dict(exif.get_ifd(GPS_IFD).items())
        except Exception as exc:  # Pillow raises many types on malformed IFDs
            exif_error = f"EXIF unreadable ({type(exc).__name__}: {exc})"
    if info.get("exif") and not (ifd0 or sub or gps) and exif_error is None:
        why = str(caught[0].message).strip() if caught else "the EXIF block holds no valid tags"
        exif_error = f"EXIF unreadable ({why})"

    xmp_raw = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    xmp = xmp_raw.decode("utf-8", "replace") if isinstance(xmp_raw, bytes) else str(xmp_raw)

    make, model = _text(ifd0.get(MAKE)), _text(ifd0.get(MODEL))
    lens = " ".join(t for t in (_text(sub.get(LENS_MAKE)), _text(sub.get(LENS_MODEL))) if t) or None
    software = _text(ifd0.get(SOFTWARE)) or (_xmp_value(xmp, "xmp:CreatorTool") if xmp else None)

    # Time: first usable of the original / digitized / file dates, with its offset.
    taken = taken_tag = offset = offset_tag = None
    for tag, name, off_tag, off_name, where in (
            (DATETIME_ORIGINAL, "DateTimeOriginal", OFFSET_TIME_ORIGINAL, "OffsetTimeOriginal", sub),
            (DATETIME_DIGITIZED, "DateTimeDigitized", OFFSET_TIME_DIGITIZED, "OffsetTimeDigitized", sub),
            (DATETIME, "DateTime", OFFSET_TIME, "OffsetTime", ifd0)):
        if tag in where and taken is None:
            try:
                taken, taken_tag = parse_datetime(where[tag]), name
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if off_tag in sub and offset is None:
            try:
                offset, offset_tag = parse_offset(sub[off_tag]), off_name
            except ValueError as exc:
                problems.append(f"{off_name}: {exc}")
    if xmp and taken is None:
        raw = _xmp_value(xmp, "exif:DateTimeOriginal") or _xmp_value(xmp, "photoshop:DateCreated")
        if raw:
            try:
                taken, taken_tag = parse_datetime(raw), "XMP DateTimeOriginal"
                tz = re.search(r"([+-]\d{2}:\d{2}|Z)$", raw.strip())
                if tz and offset is None and len(raw.strip()) > 19:
                    offset, offset_tag = parse_offset(tz.group(1)), "XMP DateTimeOriginal"
            except ValueError as exc:
                problems.append(f"XMP date: {exc}")

    fix = None
    if GPS_LAT in gps or GPS_LON in gps:
        fix = _gps_from_exif(gps, problems)
    elif xmp and "GPSLatitude" in xmp:
        try:
            lat = _xmp_coordinate(_xmp_value(xmp, "exif:GPSLatitude") or "", "latitude")
            lon = _xmp_coordinate(_xmp_value(xmp, "exif:GPSLongitude") or "", "longitude")
            fix = _checked_fix(lat, lon, DEFAULT_ACCURACY_M, "XMP", "default", None, problems)
        except ValueError as exc:
            problems.append(f"XMP GPS rejected: {exc}")

    for key, value in (("make", make), ("model", model), ("lens", lens), ("software", software),
                       ("taken", taken.isoformat() if taken else None),
                       ("utc_offset", format_offset(offset) if offset is not None else None)):
        if value:
            fields[key] = value
    return Metadata(has_exif=has_exif, exif_error=exif_error, gps=fix, taken=taken, taken_tag=taken_tag,
                    utc_offset=offset, offset_tag=offset_tag, make=make, model=model, lens=lens, software=software,
                    problems=tuple(problems), fields=fields)


def _gps_from_exif(gps: dict[int, Any], problems: list[str]) -> GpsFix | None:
    try:
        lat = parse_coordinate(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), "latitude")
        lon = parse_coordinate(gps.get(GPS_LON), gps.get(GPS_LON_REF), "longitude")
    except (ValueError, TypeError) as exc:
        problems.append(f"GPS rejected: {exc}")
        return None
    accuracy, source = DEFAULT_ACCURACY_M, "default"
    try:
        if GPS_H_ERROR in gps and _number(gps[GPS_H_ERROR]) > 0:
            accuracy, source = _number(gps[GPS_H_ERROR]), "GPSHPositioningError"
        elif GPS_DOP in gps and _number(gps[GPS_DOP]) > 0:
            accuracy, source = _number(gps[GPS_DOP]) * UERE_M, "GPSDOP"
    except (ValueError, TypeError):
        pass
    altitude = None
    try:
        if GPS_ALT in gps:
            altitude = _number(gps[GPS_ALT]) * (-1 if _number(gps.get(GPS_ALT_REF, 0) or 0) == 1 else 1)
            altitude = altitude if math.isfinite(altitude) else None
    except (ValueError, TypeError):
        altitude = None
    return _checked_fix(lat, lon, accuracy, "EXIF", source, altitude, problems)


def _checked_fix(lat: float, lon: float, accuracy: float, source: str, accuracy_from: str,
                 altitude: float | None, problems: list[str]) -> GpsFix | None:
    if lat == 0 and lon == 0:
        problems.append(f"{source} GPS rejected: exactly 0,0 (a placeholder written when there is no fix)")
        return None
    accuracy = min(max(accuracy if math.isfinite(accuracy) else DEFAULT_ACCURACY_M, 5.0), 100_000.0)
    return GpsFix(lat, lon, accuracy, source, accuracy_from, altitude)


def format_offset(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
