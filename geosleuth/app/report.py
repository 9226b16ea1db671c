"""A self-contained HTML report that works offline: the photo with its evidence boxes, static maps
of the posterior, the answer and its confidence, the most probable places, countries, the credible
region and the cue table.

Maps are drawn with Pillow: land from `geosleuth.app.mapdata`, and the posterior rasterised
exactly by looking up the grid cell of every pixel, so cells with holes, the antimeridian and
the poles need no special cases. Over each picture an SVG layer holds the credible region's
cells (their probability when pointed at, OpenStreetMap when clicked), town names and the
candidates; one inline script zooms and pans it, the only script the page's policy lets run.
Everything is embedded (base64 PNG/JPEG, inline CSS and script): no tile server or CDN.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from geosleuth.app.links import coordinates, links, openstreetmap, sun_then, taken_of
from geosleuth.app.mapdata import ATTRIBUTION, rings
from geosleuth.gazetteer import country_name
from geosleuth.geo import EARTH_RADIUS_KM
from geosleuth.photo import DEFAULT_MAX_SIDE, ImageInput, Photo
from geosleuth.interpret import cell_radius_km
from geosleuth.results import counted

if TYPE_CHECKING:
    from PIL import Image, ImageFont

    from geosleuth.results import Answer, Candidate, Prediction

OCEAN, LAND, COAST = (214, 228, 238), (245, 242, 234), (150, 150, 150)
RAMP = np.array([(255, 255, 178), (254, 204, 92), (253, 141, 60), (240, 59, 32), (189, 0, 38)], dtype=np.float64)
BOX_COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]
Extent = tuple[float, float, float, float]  # lon0, lon1, lat0, lat1
WORLD: Extent = (-180.0, 180.0, -90.0, 90.0)
GPS_RING_MIN_PX = 13  # a vouched point's accuracy circle is drawn at least this wide (radius), around its number
LABEL_FONTS = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Pillow searches font folders


# ---- maps --------------------------------------------------------------------------------
def render_map(prediction: "Prediction", extent: Extent = WORLD, width: int = 1200,
               labels: bool = True) -> "Image.Image":
    """The posterior's credible region over land outlines, coloured by probability per km², with
    the top-k candidates numbered and (with `labels`) the largest towns in view named. `extent` is
    (lon0, lon1, lat0, lat1) in degrees."""
    from PIL import Image, ImageDraw

    grid, post = prediction.grid, prediction.posterior
    if grid is None or post is None:
        raise ValueError("this prediction carries no posterior to map")
    lon0, lon1, lat0, lat1 = extent
    height = map_height(extent, width)
    sx, sy = width / (lon1 - lon0), height / (lat1 - lat0)
    xy = projection(extent, width)

    def pixel_cells() -> np.ndarray:  # the cell under every pixel centre
        lons = lon0 + (np.arange(width) + 0.5) / sx
        lats = lat1 - (np.arange(height) + 0.5) / sy
        lon_grid, lat_grid = np.meshgrid((lons + 180) % 360 - 180, np.clip(lats, -90, 90))
        return grid.lookup(lat_grid.ravel(), lon_grid.ravel()).reshape(height, width)

    # the world map's raster and land are the same for every prediction: computed once
    cells = grid.memo(f"report-raster:{width}", pixel_cells) if extent == WORLD else pixel_cells()
    in_region = np.isin(grid.tokens, prediction.region.cells)
    density = np.log10(np.maximum(post / np.maximum(grid.area_km2, 1e-9), 1e-300))
    lo, hi = density[in_region].min(), density[in_region].max()
    level = np.clip((density - lo) / max(hi - lo, 1e-9), 0, 1)
    mask = in_region[cells]
    colour = _ramp(level[cells])
    base = _land(extent, width, height).astype(np.float64)
    alpha = 0.7 * mask[..., None]
    out = base * (1 - alpha) + colour * alpha
    edge = np.zeros_like(mask)  # outline of the region: a mask change between neighbouring pixels
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    out[edge] = (120, 0, 20)
    im = Image.fromarray(out.astype(np.uint8))
    draw = ImageDraw.Draw(im)
    _graticule(draw, extent, xy, width, height)
    if labels:
        font = _label_font()
        for x, y, name in town_labels(extent, width):
            draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=(40, 40, 40))
            draw.text((x + 5, y - 7), name, fill=(30, 30, 30), font=font, stroke_width=2, stroke_fill=(255, 255, 255))
    a = prediction.answer
    for c in reversed(prediction.top_k):
        x, y = xy(np.array([c.lon]), np.array([c.lat]))[0]
        r = 9 if c.rank == 1 else 7
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(20, 20, 20) if c.rank == 1 else (255, 255, 255),
                     outline=(20, 20, 20), width=2)
        draw.text((x, y), str(c.rank), fill=(255, 255, 255) if c.rank == 1 else (20, 20, 20), anchor="mm")
    for claim in expert_claims(prediction):  # a square each: a claim, not a place the posterior found
        x, y = xy(np.array([claim["lon"]]), np.array([claim["lat"]]))[0]
        draw.rectangle([x - 6, y - 6, x + 6, y + 6], fill=(120, 40, 160), outline=(255, 255, 255), width=1)
        draw.text((x, y), claim["mark"][-1], fill=(255, 255, 255), anchor="mm")
    if _vouched(prediction):  # over the numbers: its accuracy, at least wider than a number's disc
        x, y = xy(np.array([a.lon]), np.array([a.lat]))[0]
        r = max(a.radius_km / EARTH_RADIUS_KM * 180 / np.pi * sy, GPS_RING_MIN_PX)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=(0, 90, 200), width=3)
    return im


@lru_cache(maxsize=4)
def _land(extent: Extent, width: int, height: int) -> np.ndarray:
    """Land outlines on the ocean, as pixels (read-only)."""
    from PIL import Image, ImageDraw

    lon0, lon1, lat0, lat1 = extent
    sx, sy = width / (lon1 - lon0), height / (lat1 - lat0)
    im = Image.new("RGB", (width, height), OCEAN)
    draw = ImageDraw.Draw(im)
    for ring in rings():
        if ring[:, 0].max() < lon0 or ring[:, 0].min() > lon1 or ring[:, 1].max() < lat0 or ring[:, 1].min() > lat1:
            continue
        pts = np.column_stack([(ring[:, 0] - lon0) * sx, (lat1 - ring[:, 1]) * sy])
        draw.polygon([tuple(p) for p in pts.tolist()], fill=LAND, outline=COAST)
    out = np.asarray(im)
    out.setflags(write=False)
    return out


def _ramp(level: np.ndarray) -> np.ndarray:
    """YlOrRd colours for values in [0, 1]."""
    pos = level * (len(RAMP) - 1)
    i = np.minimum(pos.astype(int), len(RAMP) - 2)
    t = (pos - i)[..., None]
    return RAMP[i] * (1 - t) + RAMP[i + 1] * t


def _graticule(draw: "object", extent: Extent, xy: "object", width: int, height: int) -> None:
    lon0, lon1, lat0, lat1 = extent
    span = max(lon1 - lon0, lat1 - lat0)
    step = next(s for s in (0.25, 0.5, 1, 2, 5, 10, 30, 60) if span / s <= 12)
    for lon in np.arange(np.ceil(lon0 / step) * step, lon1 + 1e-9, step):
        x = xy(np.array([lon]), np.array([lat0]))[0][0]
        draw.line([(x, 0), (x, height)], fill=(170, 170, 190), width=1)
        draw.text((x + 2, height - 12), f"{lon:g}°", fill=(90, 90, 110))
    for lat in np.arange(np.ceil(lat0 / step) * step, lat1 + 1e-9, step):
        y = xy(np.array([lon0]), np.array([lat]))[0][1]
        draw.line([(0, y), (width, y)], fill=(170, 170, 190), width=1)
        draw.text((2, y + 1), f"{lat:g}°", fill=(90, 90, 110))


def _vouched(prediction: "Prediction") -> bool:
    """Whether the answer is a point a cue vouched for (a GPS fix), sharper than its cell."""
    grid, a = prediction.grid, prediction.answer
    return a.radius_km < cell_radius_km(grid, int(grid.index_of([a.cell])[0]))


def map_height(extent: Extent, width: int) -> int:
    """Pixels high of a map `width` wide: the world 2:1, a zoom true to the ground at its middle."""
    lon0, lon1, lat0, lat1 = extent
    if extent == WORLD:
        return width // 2
    mid = np.radians((lat0 + lat1) / 2)
    return max(64, int(round(width * (lat1 - lat0) / ((lon1 - lon0) * max(np.cos(mid), 0.2)))))


def projection(extent: Extent, width: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(lon, lat) in degrees -> (x, y) pixels of the map of `extent`, `width` wide."""
    lon0, lon1, lat0, lat1 = extent
    sx, sy = width / (lon1 - lon0), map_height(extent, width) / (lat1 - lat0)
    return lambda lon, lat: np.column_stack([(np.asarray(lon) - lon0) * sx, (lat1 - np.asarray(lat)) * sy])


@lru_cache(maxsize=1)
def _label_font() -> "ImageFont.FreeTypeFont":
    """DejaVu Sans (every Latin, Greek and Cyrillic town name) where installed, else Pillow's own."""
    from PIL import ImageFont

    for path in LABEL_FONTS:
        try:
            return ImageFont.truetype(path, 12)
        except OSError:
            continue
    return ImageFont.load_default(size=12)


def town_labels(extent: Extent, width: int, most: int = 14) -> list[tuple[float, float, str]]:
    """(x, y, name) of the most populous towns in view (GeoNames), none over another's label."""
    from PIL import Image, ImageDraw

    from geosleuth.gazetteer.places import Gazetteer

    height, xy = map_height(extent, width), projection(extent, width)
    measure, font = ImageDraw.Draw(Image.new("L", (1, 1))), _label_font()
    taken: list[tuple[float, float, float, float]] = []
    out = []
    for town in Gazetteer.default().largest(*extent, n=most * 3):
        x, y = (float(v) for v in xy(np.array([town.lon]), np.array([town.lat]))[0])
        box = measure.textbbox((x + 5, y - 7), town.name, font=font)
        if box[2] > width or box[3] > height or any(box[0] < b[2] + 4 and b[0] < box[2] + 4 and box[1] < b[3] + 2
                                                    and b[1] < box[3] + 2 for b in taken):
            continue
        taken.append(box)
        out.append((x, y, town.name))
        if len(out) == most:
            break
    return out


def zoom_extent(prediction: "Prediction", mass: float = 0.5) -> Extent | None:
    """A view around the cells holding the top `mass` of the posterior and the top candidates,
    or None when they spread over too much of the world for a zoom to help."""
    grid, post = prediction.grid, prediction.posterior
    if grid is None or post is None:
        return None
    order = np.argsort(-post)
    n = int(np.searchsorted(np.cumsum(post[order]), mass) + 1)
    cells = order[:min(n, 200)]
    reach = np.degrees(np.sqrt(grid.area_km2[cells] / np.pi) / EARTH_RADIUS_KM)  # a cell's radius in degrees
    a = prediction.answer
    if _vouched(prediction):  # framed with its accuracy circle and the town around it
        reach = np.degrees(max(20 * a.radius_km, 2.0) / EARTH_RADIUS_KM)
        cells, lats, lons = cells[:0], np.array([a.lat - reach, a.lat + reach]), np.array([a.lon - reach, a.lon + reach])
    else:  # where the mass is, and the candidates that hold some of it
        shown = [c for c in prediction.top_k[:3] if c.probability >= 0.01]
        lats = np.r_[grid.lat[cells] - reach, grid.lat[cells] + reach, [c.lat for c in shown]]
        lons = np.r_[grid.lon[cells] - reach, grid.lon[cells] + reach, [c.lon for c in shown]]
    if np.ptp(lons) > 100 or np.ptp(lats) > 60:
        return None
    lat_c, lon_c = (lats.min() + lats.max()) / 2, (lons.min() + lons.max()) / 2
    cos = max(np.cos(np.radians(lat_c)), 0.2)
    half_lat = max(0.6 * np.ptp(lats), 0.1)  # 20 % margin, at least ~11 km
    half_lon = max(0.6 * np.ptp(lons), 0.1 / cos)
    half_lon = max(half_lon, half_lat * 4 / 3 / cos)  # 4:3 on the ground
    half_lat = max(half_lat, half_lon * cos * 3 / 4)
    return (float(lon_c - half_lon), float(lon_c + half_lon), float(max(lat_c - half_lat, -89.0)),
            float(min(lat_c + half_lat, 89.0)))


# ---- photo -------------------------------------------------------------------------------
def annotate_photo(photo: Photo, prediction: "Prediction", max_side: int = 1024) -> tuple["Image.Image", list[dict]]:
    """The working image with every evidence box drawn and numbered once (what a cue saw in one
    box, e.g. a phone number and its area code, shares the number), and the legend rows."""
    from PIL import ImageDraw

    im = photo.image.copy()
    scale = min(1.0, max_side / max(im.size))
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), resample=3)
    draw = ImageDraw.Draw(im)
    legend: list[dict] = []
    numbers: dict[tuple, int] = {}  # (cue, box) -> its number
    for k, (name, rep) in enumerate(prediction.cues.items()):
        colour = BOX_COLOURS[k % len(BOX_COLOURS)]
        for e in rep.evidence:
            if e.box is None:
                continue
            key = (name, tuple(round(v) for v in e.box))
            if key in numbers:
                legend.append({"n": numbers[key], "cue": name, "kind": e.kind, "summary": e.summary,
                               "colour": "#%02x%02x%02x" % colour})
                continue
            n = numbers[key] = len(numbers) + 1
            x0, y0, x1, y1 = (v * scale for v in e.box)
            draw.rectangle([x0, y0, x1, y1], outline=colour, width=3)
            draw.rectangle([x0, max(0, y0 - 14), x0 + 8 + 7 * len(str(n)), max(14, y0)], fill=colour)
            draw.text((x0 + 4, max(0, y0 - 14) + 1), str(n), fill=(255, 255, 255))
            legend.append({"n": n, "cue": name, "kind": e.kind, "summary": e.summary,
                           "colour": "#%02x%02x%02x" % colour})
    return im, sorted(legend, key=lambda row: row["n"])  # what one box holds, together


def map_figure(prediction: "Prediction", extent: Extent, width: int, name: str, alt: str, caption: str) -> str:
    """A map as SVG over its picture: each credible-region cell a shape that names its probability
    when pointed at and opens OpenStreetMap there when clicked, the towns named, each candidate
    number a link to its row of the places table; zoomed and panned by `MAP_SCRIPT`."""
    e = html.escape
    height = map_height(extent, width)
    xy = projection(extent, width)
    grid, post = prediction.grid, prediction.posterior
    lon0, lon1, lat0, lat1 = extent
    cells = []
    known = grid.memo("report-cell-rings", dict)  # index -> its rings, (lon, lat) arrays
    for token, i in zip(prediction.region.cells, grid.index_of(prediction.region.cells).tolist()):
        if i not in known:
            known[i] = [np.asarray(ring) for ring in grid.polygon(i, points_per_edge=1)]
        rings = known[i]
        outer = rings[0]
        if outer[:, 0].max() < lon0 or outer[:, 0].min() > lon1 or outer[:, 1].max() < lat0 or outer[:, 1].min() > lat1:
            continue
        path = "".join("M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in xy(r[:, 0], r[:, 1])) + "Z" for r in rings)
        p, area = float(post[i]), float(grid.area_km2[i])
        osm = openstreetmap(float(grid.lat[i]), float(grid.lon[i]), cell_radius_km(grid, i))
        cells.append(f"<a href='{e(osm)}' target=_blank rel='noopener noreferrer'><path d='{path}'><title>"
                     f"cell {e(token)}: {p:.2%} of the probability, {p / area:.2g} per km²</title></path></a>")
    towns = "".join(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.5'/><text x='{x + 5:.1f}' y='{y + 4:.1f}'>{e(n)}</text>"
                    for x, y, n in town_labels(extent, width))
    marks = []
    for c in prediction.top_k:
        x, y = xy(np.array([c.lon]), np.array([c.lat]))[0]
        marks.append(f"<a href='#place-{c.rank}'><circle cx='{x:.1f}' cy='{y:.1f}' r='10'><title>"
                     f"{c.rank}. {e(c.place)}, {c.probability:.1%}</title></circle></a>")
    for claim in expert_claims(prediction):
        x, y = xy(np.array([claim["lon"]]), np.array([claim["lat"]]))[0]
        marks.append(f"<a href='#claim-{e(claim['mark'])}'><circle cx='{x:.1f}' cy='{y:.1f}' r='8'><title>"
                     f"{e(claim['cue'])} claims {e(claim['label'])}</title></circle></a>")
    picture = _data_uri(render_map(prediction, extent, width, labels=False))
    return (f"<figure class=map><svg id={name} class=map-view viewBox='0 0 {width} {height}' data-w={width} "
            f"data-h={height} role=img aria-label='{e(alt)}'>"
            f"<image href='{picture}' width='{width}' height='{height}'/>"
            f"<g class=cells>{''.join(cells)}</g><g class=towns>{towns}</g><g class=marks>{''.join(marks)}</g></svg>"
            "<div class=map-tools><button type=button data-act=in title='zoom in'>+</button><button type=button "
            "data-act=out title='zoom out'>−</button><button type=button data-act=reset>whole map</button> "
            f"<span class=map-info aria-live=polite></span></div><figcaption>{e(caption)}</figcaption></figure>")


def _data_uri(im: "Image.Image", fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 85} if fmt == "JPEG" else {"optimize": True}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ---- HTML --------------------------------------------------------------------------------
def render_report(prediction: "Prediction", photos: Sequence[tuple[ImageInput, "Prediction"]] = (), *,
                  max_side: int = DEFAULT_MAX_SIDE, title: str | None = None) -> str:
    """The report as one HTML string. `photos` pairs each image (path, bytes, `Photo`...) with its
    own prediction, whose evidence boxes are drawn on it: for one photo, `[(image, prediction)]`;
    for an album, every photo with its own prediction while `prediction` is the joint one.
    Open images with the same `max_side` the pipeline used (boxes are in working-image pixels)."""
    e = html.escape
    d = prediction.to_dict()
    conf = prediction.confidence
    parts = [f"<h1>{e(title or 'geosleuth report: ' + prediction.image)}</h1>",
             f"<p id=confidence class='confidence level-{conf.level}'>Confidence: <b>{e(conf.level)}</b>"
             + (f" — {e(conf.summary)}" if conf.confident else "") + "</p>"]
    parts += [f"<p class=best>{e(line)}</p>" for line in prediction.headline(with_confidence=False)]
    parts += [f"<p class=warn>WARNING {e(w)}</p>" for w in prediction.warnings]

    for src, pred in photos:
        photo = Photo.open(src, max_side=max_side)
        im, legend = annotate_photo(photo, pred, 1024 if len(photos) == 1 else 480)
        rows = "".join(f"<tr><td style='color:{r['colour']}'><b>{r['n']}</b></td><td>{e(r['cue'])}</td>"
                       f"<td>{e(r['kind'])}</td><td>{e(r['summary'])}</td></tr>" for r in legend)
        caption = e(pred.image) + ("" if len(photos) == 1 else
                                   f" — alone: {e(pred.best.place)} (confidence: {pred.confidence.level})")
        parts.append(f"<figure class=photo><img alt='photo' src='{_data_uri(im, 'JPEG')}'>"
                     f"<figcaption>{caption}</figcaption>"
                     + (f"<table class=legend><tr><th>#</th><th>cue</th><th>kind</th><th>what</th></tr>{rows}</table>"
                        if rows else "") + "</figure>")

    maps = [map_figure(prediction, WORLD, 1200, "map-world", "world map of the posterior",
                       "World: the credible region coloured by probability per km² (yellow low, red high), "
                       "candidates numbered.")]
    extent = zoom_extent(prediction)
    if extent is not None:
        a = prediction.answer
        ring = (f" Blue circle: {coordinates(a.lat, a.lon, a.radius_km)}, the point a cue vouched for "
                f"(drawn at least {GPS_RING_MIN_PX} px in radius)." if _vouched(prediction) else "")
        maps.append(map_figure(prediction, extent, 800, "map-zoom", "zoomed map",
                               f"Zoom: {extent[2]:.2f}° to {extent[3]:.2f}° N, {extent[0]:.2f}° to {extent[1]:.2f}° E."
                               + ring))
    parts.append("<section id=maps><h2>Map</h2><p class=small>Scroll or use + and − to zoom, drag to pan; point at "
                 "a cell for its probability, click it to open OpenStreetMap there, click a number for its place."
                 "</p>" + "".join(maps) + "</section>")

    taken = taken_of(prediction)
    rows = [("answer", prediction.answer)] + [(str(c.rank), c) for c in prediction.top_k]
    top = "".join(_place_row(prediction, rank, c, taken) for rank, c in rows)
    parts.append("<section><h2>Most probable places</h2><table id=top-k><tr><th>#</th><th>coordinates ± radius "
                 "(click to select)</th><th>p of its cell</th><th>country</th><th>nearest place</th>"
                 + ("<th>sun when taken</th>" if taken else "") + "<th>check it</th>"
                 f"<th>cell</th></tr>{top}</table>"
                 + ("" if taken is None else f"<p class=small>SunCalc opens at the photo's EXIF time, {e(taken)}.</p>")
                 + "</section>")
    claims = expert_claims(prediction)
    if claims:
        rows_html = "".join(
            f"<tr id='claim-{e(c['mark'])}'><td>{e(c['mark'])}</td><td>{e(c['cue'])}</td><td>{e(c['label'])}</td>"
            f"<td><code class=coords>{e(coordinates(c['lat'], c['lon'], c['sigma_km']))}</code></td>"
            f"<td>{e(c['stated'])}</td><td>{e(c['worth'])}</td><td class=links>"
            + " ".join(f"<a href='{e(url)}' rel='noopener noreferrer' target=_blank>{e(name)}</a>"
                       for name, url in links(c["lat"], c["lon"], c["sigma_km"], taken).items()) + "</td></tr>"
            for c in claims)
        parts.append("<section><h2>What the experts claimed</h2><p class=small>Places other models or tools named "
                     "(purple squares on the maps), as they said them, and how far from the truth that expert's "
                     "answers at that confidence have been found to land; their weight in the answer is in the cue "
                     "table.</p><table id=claims><tr><th>#</th><th>expert</th><th>place</th><th>coordinates ± half "
                     "of near answers within</th><th>stated</th><th>such answers</th><th>check it</th></tr>"
                     f"{rows_html}</table></section>")
    countries = "".join(f"<tr><td>{e(code)}</td><td>{e(country_name(code))}</td><td>{p:.1%}</td>"
                        f"<td><div class=bar style='width:{max(p * 300, 1):.0f}px'></div></td></tr>"
                        for code, p in list(prediction.countries.items())[:10])
    parts.append(f"<section><h2>Countries</h2><table id=countries>{countries}</table></section>")
    r = prediction.region
    parts.append(f"<section id=region><h2>Credible region</h2><p>{r.mass:.0%} of the probability lies in "
                 f"{counted(len(r.cells), 'cell')} covering {r.area_km2:,.0f} km² "
                 "(outlined on the maps).</p></section>")
    parts.append(_cue_table(prediction))
    timing = ", ".join(f"{k} {v:.0f} ms" for k, v in d["timings_ms"].items())
    parts.append(f"<p class=small>Time: {e(timing) or 'n/a'}. Grid: {d['grid']['cells']} cells. "
                 f"{e(ATTRIBUTION)}. Place names: GeoNames (CC BY 4.0).</p>"
                 f"<p class=small>Generated locally by geosleuth; {e(uploads(prediction))}. Answers are "
                 "probabilities, not facts: check the evidence. Do not use this to locate, track or harass people.</p>")
    data = json.dumps(d, ensure_ascii=False).replace("<", "\\u003c")  # inert inside <script>
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta http-equiv=Content-Security-Policy "
            f"content=\"{REPORT_POLICY}\"><title>{e(title or prediction.image)} "
            f"— geosleuth</title><meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}"
            f"<script type='application/json' id=prediction-data>{data}</script><script>{MAP_SCRIPT}</script></body></html>")


def _place_row(prediction: "Prediction", rank: str, c: "Candidate | Answer", taken: str | None) -> str:
    """One row of the places table: coordinates to copy, the sun then (with an EXIF time), links."""
    e = html.escape
    sun = f"<td>{e(sun_then(prediction, c.lat, c.lon))}</td>" if taken else ""
    hrefs = " ".join(f"<a href='{e(url)}' rel='noopener noreferrer' target=_blank>{e(name)}</a>"
                     for name, url in links(c.lat, c.lon, c.radius_km, taken).items())
    return (f"<tr id=place-{rank}><td>{rank}</td><td><code class=coords>{e(coordinates(c.lat, c.lon, c.radius_km))}</code></td>"
            f"<td>{c.probability:.1%}</td><td>{e(c.country)}</td><td>{e(c.place)}</td>{sun}"
            f"<td class=links>{hrefs}</td><td><code>{e(c.cell)}</code></td></tr>")


def expert_claims(prediction: "Prediction") -> list[dict]:
    """The places experts named (evidence of kind "expert_claim"), marked E1, E2... in order."""
    claims = []
    for name, rep in prediction.cues.items():
        for ev in rep.evidence:
            if ev.kind == "expert_claim":
                d = ev.details
                stated = ", ".join(s for s in (
                    f"{d['stated_confidence']:.0%} confidence" if d.get("stated_confidence") is not None else "",
                    f"evidence cited: {d['evidence_count']}" if d.get("evidence_count") is not None else "") if s)
                label = d.get("place") or f"{d['lat']:.4f}, {d['lon']:.4f}"
                worth = (f"{d['near']:.0%} near the truth, half of those within ~{d['typical_km']:,.0f} km"
                         if d.get("near") is not None else "")
                claims.append({"mark": f"E{len(claims) + 1}", "cue": name, "lat": d["lat"], "lon": d["lon"],
                               "label": label, "sigma_km": d.get("typical_km", 0.0), "stated": stated,
                               "worth": worth})
    return claims


def uploads(prediction: "Prediction") -> str:
    """Where the photo went, in words: nowhere, or each endpoint a cue sent it to."""
    sent = [ev.details for rep in prediction.cues.values() for ev in rep.evidence
            if ev.kind == "photo_sent" and ev.details.get("delivered")]
    if not sent:
        return "nothing was uploaded"
    return "the photo was sent to " + "; ".join(f"{d['endpoint']} (model {d['model']})" for d in sent) \
        + ", as configured, and nowhere else"


def _cue_table(prediction: "Prediction") -> str:
    e = html.escape
    rows = []
    for name, rep in prediction.cues.items():
        if rep.status == "ok":
            moved = "" if rep.moved_km is None else f"{rep.moved_km:,.0f} km"
            without = "" if rep.top_without is None else e(rep.top_without.place)
            favoured = "" if not rep.favoured_country else f"{e(rep.favoured_country)} (+{rep.country_shift:.0%})"
            bits = f"{rep.bits:.2f}" if rep.bits is not None else ""
        else:
            moved = without = favoured = bits = ""
        saw = "".join(f"<li>{e(ev.summary)} <span class=small>({e(ev.kind)}"
                      f"{', ' + ev.sureness if ev.sureness else ''})</span></li>"
                      for ev in rep.evidence)
        note = f"<div class=small>{e(rep.note)}</div>" if rep.note else ""
        rows.append(f"<tr class='{e(rep.status)}'><td><b>{e(name)}</b></td><td>{e(rep.status)}</td><td>{bits}</td>"
                    f"<td>{favoured}</td><td>{moved}</td><td>{without}</td><td><ul>{saw}</ul>{note}</td></tr>")
    if not rows:
        rows.append("<tr><td colspan=7>No cue ran: this is the photo-density prior alone.</td></tr>")
    return ("<section><h2>Cues</h2><table id=cues><tr><th>cue</th><th>status</th><th>bits</th><th>favoured</th>"
            "<th>moved the answer</th><th>answer without it</th><th>what it saw</th></tr>"
            + "".join(rows) + "</table><p class=small>bits: information the cue added (KL divergence of the "
                              "posterior with it from the one without it).</p></section>")


CSS = """body{font:15px/1.45 system-ui,sans-serif;max-width:1240px;margin:1em auto;padding:0 1em;color:#222}
code.coords{user-select:all;white-space:nowrap}td.links a{margin-right:.5em;white-space:nowrap}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.4em 0}td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;
vertical-align:top}img{max-width:100%;border:1px solid #ccc}figure{margin:.6em 0;display:inline-block;
vertical-align:top}.best{font-size:1.15em}.confidence{display:inline-block;padding:2px 10px;border-radius:4px;background:#eee}.level-none{background:#fde2c4}.warn{background:#fee;border-left:4px solid #c00;padding:4px 8px}
.bar{height:10px;background:#d73027}.small{color:#666;font-size:.85em}tr.failed td{color:#a00}
tr.abstained td{color:#777}ul{margin:0;padding-left:1.1em}
figure.map{display:block}svg.map-view{width:100%;height:auto;border:1px solid #ccc;cursor:grab;touch-action:none}
.cells path{fill:transparent;stroke:none}.cells a:hover path{fill:rgba(20,20,60,.28);stroke:#223;stroke-width:.6}
.towns circle{fill:#282828}.towns text{font:12px system-ui,sans-serif;fill:#1e1e1e;paint-order:stroke;stroke:#fff;
stroke-width:3px}.marks circle{fill:transparent;cursor:pointer}.map-tools button{min-width:2em;margin-right:.3em}
.map-info{color:#444;font-size:.9em}tr:target{background:#fff3c4}"""


# Zoom (wheel, buttons) and pan (drag) of each map by its SVG viewBox; what is pointed at is
# repeated beside the buttons. The only script a report runs: its hash is in the page's policy.
MAP_SCRIPT = """document.querySelectorAll('svg.map-view').forEach(function(svg){
var W=+svg.dataset.w,H=+svg.dataset.h,v=[0,0,W,H],drag=null,moved=0;
var tools=svg.parentNode.querySelector('.map-tools'),info=tools.querySelector('.map-info');
function set(){svg.setAttribute('viewBox',v.join(' '));}
function clamp(){v[0]=Math.min(Math.max(v[0],0),W-v[2]);v[1]=Math.min(Math.max(v[1],0),H-v[3]);}
function zoom(f,x,y){var w=Math.min(W,Math.max(W/256,v[2]*f)),h=w*H/W;
v=[x-(x-v[0])*w/v[2],y-(y-v[1])*h/v[3],w,h];clamp();set();}
function at(ev){var r=svg.getBoundingClientRect();return[v[0]+(ev.clientX-r.left)/r.width*v[2],v[1]+(ev.clientY-r.top)/r.height*v[3]];}
svg.addEventListener('wheel',function(ev){ev.preventDefault();var p=at(ev);zoom(ev.deltaY<0?0.8:1.25,p[0],p[1]);},{passive:false});
svg.addEventListener('pointerdown',function(ev){drag=[ev.clientX,ev.clientY,v[0],v[1]];moved=0;});
window.addEventListener('pointerup',function(){drag=null;});
svg.addEventListener('pointermove',function(ev){if(!drag)return;var r=svg.getBoundingClientRect();
moved=Math.max(moved,Math.abs(ev.clientX-drag[0])+Math.abs(ev.clientY-drag[1]));
v[0]=drag[2]-(ev.clientX-drag[0])/r.width*v[2];v[1]=drag[3]-(ev.clientY-drag[1])/r.height*v[3];clamp();set();});
svg.addEventListener('click',function(ev){if(moved>4)ev.preventDefault();},true);
svg.addEventListener('mouseover',function(ev){var t=ev.target.querySelector&&ev.target.querySelector('title');
if(t)info.textContent=t.textContent;});
tools.addEventListener('click',function(ev){var a=ev.target.dataset.act;
if(a==='in')zoom(0.5,v[0]+v[2]/2,v[1]+v[3]/2);else if(a==='out')zoom(2,v[0]+v[2]/2,v[1]+v[3]/2);
else if(a==='reset'){v=[0,0,W,H];set();}});});"""


def script_hash(source: str) -> str:
    """A Content-Security-Policy source that lets exactly this inline script run."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


REPORT_POLICY = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {script_hash(MAP_SCRIPT)}"


def write_report(path: str | Path, prediction: "Prediction", photos: Sequence[tuple[ImageInput, "Prediction"]] = (),
                 **kwargs: object) -> Path:
    """Write `render_report(...)` to `path` (UTF-8), whole or not at all; returns the path."""
    from geosleuth.app.outputs import write_whole

    path = Path(path)
    write_whole(path, render_report(prediction, photos, **kwargs))  # type: ignore[arg-type]
    return path
