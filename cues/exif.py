"""The `exif` cue: GPS fix, UTC offset, camera and software, and a spoofing cross-check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence, GeoPoint
from geosleuth.fusion.kernels import kernel_log_likelihood
from geosleuth.gazetteer import reverse_lookup
from geosleuth.gazetteer.timezones import offset_match, zone_at
from geosleuth.metadata import format_offset

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo


class ExifCue(BaseCue):
    """What the file's metadata says about where it was taken.

    A valid GPS fix gives a sharp likelihood (a Gaussian of the reported accuracy, 50 m by
    default); otherwise a UTC offset gives a banded one over cells whose time zone had that
    offset on that date. `offset_mismatch` is the likelihood left to other zones, since camera
    clocks often keep the traveller's home zone.
    """

    name = "exif"

    def __init__(self, *, use_gps: bool, use_time_zone: bool, offset_mismatch: float, disagreement: float,
                 weight: float, floor: float) -> None:
        super().__init__(weight=weight, floor=floor)
        self.use_gps = use_gps
        self.use_time_zone = use_time_zone
        self.offset_mismatch = offset_mismatch
        self.disagreement = disagreement  # a cue liking the GPS cell this much less than its best disagrees

    def available(self) -> tuple[bool, str]:
        try:
            import timezonefinder  # noqa: F401
        except ImportError:
            return True, "GPS only: install 'timezonefinder' for the UTC-offset likelihood"
        return True, "ready (Pillow EXIF/XMP reader, timezonefinder)"

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        md = photo.metadata
        evidence: list[Evidence] = []
        if md.exif_error:
            evidence.append(Evidence("exif", md.exif_error, 1.0))
        camera = md.model if md.model and md.make and md.model.lower().startswith(md.make.lower()) \
            else " ".join(t for t in (md.make, md.model) if t)
        if camera or md.lens or md.taken:
            parts = [f"camera {camera}" if camera else "", f"lens {md.lens}" if md.lens else "",
                     f"taken {md.taken.isoformat(sep=' ')} ({md.taken_tag})" if md.taken else ""]
            evidence.append(Evidence("camera", _sentence("; ".join(p for p in parts if p)), 1.0,
                                     details={k: v for k, v in md.fields.items() if k in ("make", "model", "lens",
                                                                                           "taken", "utc_offset")}))
        if md.editor:
            evidence.append(Evidence("warning", f"Processed with {md.editor}: pixels or metadata may have been "
                                                "altered", 0.6, details={"software": md.editor}))
        elif md.software:
            evidence.append(Evidence("software", f"Software: {md.software}", 1.0, details={"software": md.software}))
        evidence += [Evidence("exif", p, 1.0) for p in md.problems]

        if self.use_gps and md.gps is not None:
            fix = md.gps
            sigma_km = fix.accuracy_m / 1000
            ll = kernel_log_likelihood(grid, fix.lat, fix.lon, sigma_km)
            accuracy = f"±{fix.accuracy_m:,.0f} m" + (" (default)" if fix.accuracy_from == "default" else
                                                       f" ({fix.accuracy_from})")
            place = _nearest_place(fix.lat, fix.lon)
            evidence.insert(0, Evidence("gps", f"{fix.source} GPS {fix.lat:.5f}, {fix.lon:.5f} {accuracy}"
                                               + (f" near {place}" if place else ""), 0.99,
                                        details={"lat": fix.lat, "lon": fix.lon, "accuracy_m": fix.accuracy_m,
                                                 "accuracy_from": fix.accuracy_from, "source": fix.source,
                                                 "altitude_m": fix.altitude_m}))
            if md.utc_offset is not None and self.use_time_zone:
                evidence += self._offset_versus_gps(md, grid, ll)
            return CueOutput(ll, tuple(evidence), points=(GeoPoint(fix.lat, fix.lon, sigma_km, "EXIF GPS"),))

        if self.use_time_zone and md.utc_offset is not None:

            share, zones = offset_match(grid, md.utc_offset, md.taken)
            if share.max() > 0:
                when = f" on {md.taken:%Y-%m-%d %H:%M}" if md.taken else " (no date: any season)"
                shown = ", ".join(zones[:4]) + (f" and {len(zones) - 4} more" if len(zones) > 4 else "")
                evidence.insert(0, Evidence(
                    "time_zone", f"UTC offset {format_offset(md.utc_offset)} ({md.offset_tag}){when} fits {shown}",
                    0.6, details={"utc_offset": format_offset(md.utc_offset), "zones": zones[:20],
                                  "cell_share": round(float(np.mean(share > 0)), 4)}))
                ll = np.log(share + (1 - share) * self.offset_mismatch)
                return CueOutput(ll, tuple(evidence))
            evidence.append(Evidence("time_zone", f"UTC offset {format_offset(md.utc_offset)} matches no time zone", 1.0))

        if not md.has_exif and not md.software:
            note = "no EXIF metadata"
        elif md.exif_error:
            note = "EXIF unreadable"
        else:
            note = "metadata has no GPS position or UTC offset"
        return CueOutput.abstain(note, evidence)

    def _offset_versus_gps(self, md, grid: "CellGrid", gps_ll: np.ndarray) -> list[Evidence]:

        share, _ = offset_match(grid, md.utc_offset, md.taken)
        at_fix = float(np.exp(gps_ll) @ share)
        zone = zone_at(md.gps.lat, md.gps.lon)
        if at_fix >= 0.5:
            return [Evidence("time_zone", f"UTC offset {format_offset(md.utc_offset)} agrees with the GPS position "
                                          f"({zone})", 0.9)]
        return [Evidence("warning", f"UTC offset {format_offset(md.utc_offset)} does not match the GPS position's time "
                                    f"zone ({zone}): clock, time zone or GPS may have been edited", 0.6)]

    def review(self, own: CueOutput, others: Mapping[str, np.ndarray], grid: "CellGrid") -> tuple[Evidence, ...]:
        """Flag a GPS fix that the other cues find implausible: edited or spoofed metadata."""
        if own.abstained or not own.points or not others:
            return ()
        gps_cell = int(np.argmax(own.log_likelihood))
        disagree = {}
        for name, eff in others.items():
            ratio = float(np.exp(eff[gps_cell] - eff.max()))
            if ratio < self.disagreement:
                disagree[name] = grid.cell_country[int(np.argmax(eff + grid.log_prior()))]
        if not disagree:
            return (Evidence("consistency", f"GPS position is consistent with {', '.join(sorted(others))}", 0.8),)
        named = ", ".join(f"{n} (favours {cc or '?'})" for n, cc in sorted(disagree.items()))
        return (Evidence("warning", f"GPS position disagrees with {named}: metadata may be edited or spoofed",
                         0.7, details={"disagreeing_cues": sorted(disagree)}),)


def _nearest_place(lat: float, lon: float) -> str:

    try:
        return reverse_lookup([lat], [lon])[0].label
    except Exception:  # the place name is a courtesy; never fail the cue for it
        return ""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
