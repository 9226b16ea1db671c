from __future__ import annotations

import numpy as np
import pytest
import s2sphere

from geosleuth.errors import ConfigError
from geosleuth.fusion import s2
from geosleuth.fusion.grid import CellGrid, build_grid, read_coordinates
from geosleuth.geo import EARTH_RADIUS_KM, haversine_km


def random_points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    # Poles, the antimeridian, the equator and cube-face corners/edges.
    special_lat = [90, -90, 0, 0, 0, 35.26439, -35.26439, 45, -45, 0, 89.9999, -89.9999]
    special_lon = [0, 0, 180, -180, 0, 45, -135, 90, -90, 45, 180, -180]
    return np.r_[lat, special_lat], np.r_[lon, special_lon]


def test_leaf_ids_match_s2sphere_bit_for_bit():
    lat, lon = random_points(3000)
    ours = s2.leaf_ids(lat, lon)
    ref = [s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(a, b)).id() for a, b in zip(lat, lon)]
    assert ours.tolist() == ref


def test_cell_id_helpers_match_s2sphere():
    cell = s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(48.85, 2.35))
    for level in (0, 1, 7, 13, 30):
        assert int(s2.parent_ids([cell.id()], level)[0]) == cell.parent(level).id()
        assert int(s2.levels_of([cell.parent(level).id()])[0]) == level
    p = cell.parent(9)
    assert s2.children_ids(p.id()) == [c.id() for c in p.children()]
    assert int(s2.range_min([p.id()])[0]) == p.range_min().id()
    assert int(s2.range_max([p.id()])[0]) == p.range_max().id()
    assert s2.to_token(p.id()) == p.to_token() and s2.from_token(p.to_token()) == p.id()
    assert s2.face_ids() == [s2sphere.CellId.from_face_pos_level(f, 0, 0).id() for f in range(6)]


def test_every_point_maps_to_exactly_one_cell(grid):
    lat, lon = random_points(100_000, seed=1)
    idx = grid.lookup(lat, lon)
    assert idx.min() >= 0 and idx.max() < len(grid)
    # The cell found is an ancestor of the point and no member cell is deeper on its path.
    leaves = s2.leaf_ids(lat, lon)
    assert np.all(s2.parent_ids(leaves, grid.levels[idx]) == grid.ids[idx])
    members = set(grid.ids.tolist())
    for leaf, level in zip(leaves[:2000], grid.levels[idx[:2000]]):
        deeper = [int(s2.parent_ids([leaf], lv)[0]) for lv in range(level + 1, 31)]
        assert not members.intersection(deeper)


def test_cells_tile_the_sphere(grid):
    assert grid.area_km2.min() > 0
    assert grid.area_km2.sum() == pytest.approx(4 * np.pi * EARTH_RADIUS_KM**2, rel=1e-4)
    assert 2000 <= len(grid) <= 5000


def test_hierarchy_is_consistent(grid):
    assert set(grid.hierarchy) == {"coarse", "middle", "fine"}
    sizes = [len(grid.hierarchy_ids[n]) for n in ("coarse", "middle", "fine")]
    assert sizes[0] < sizes[1] < sizes[2]
    for name in ("coarse", "middle"):
        parent = grid.hierarchy_ids[name][grid.hierarchy[name]]
        # each fine cell lies in its parent cell ...
        assert np.all(s2.parent_ids(grid.ids, s2.levels_of(parent)) == parent)
        # ... and point lookups at both levels agree through the parent map.
        lat, lon = random_points(20_000, seed=2)
        assert np.array_equal(grid.hierarchy[name][grid.lookup(lat, lon)], grid.lookup(lat, lon, level=name))
    with pytest.raises(ConfigError, match="did you mean 'coarse'"):
        grid.lookup([0], [0], level="corse")


@pytest.mark.parametrize("lat,lon,country", [(48.8566, 2.3522, "FR"), (-33.8688, 151.2093, "AU"),
                                              (35.6762, 139.6503, "JP"), (40.7128, -74.0060, "US"),
                                              (-22.9068, -43.1729, "BR"), (55.7558, 37.6173, "RU")])
def test_cities_map_to_their_country(grid, lat, lon, country):
    cell = grid.lookup([lat], [lon])[0]
    assert grid.cell_country[cell] == country
    assert haversine_km(lat, lon, grid.lat[cell], grid.lon[cell]) < 50  # dense cities get small cells


def test_country_tables_are_distributions(grid):
    p = np.exp(grid.log_prior())
    assert p.sum() == pytest.approx(1.0)
    assert grid.country_probabilities(p).sum() == pytest.approx(1.0)
    assert np.allclose(grid.cells_from_countries(np.ones(len(grid.countries))), 1.0, atol=1e-5)
    assert grid.meta["format"] == "geosleuth.grid/1" and grid.meta["photos"] == 100_000


def test_lookup_rejects_bad_coordinates(grid):
    with pytest.raises(ValueError):
        grid.lookup([float("nan")], [0.0])
    with pytest.raises(ValueError):
        grid.lookup([91.0], [0.0])


def test_build_small_grid_and_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    # Two dense clusters (Paris, Sydney) and a sprinkle elsewhere.
    lat = np.r_[48.85 + rng.normal(0, 0.05, 400), -33.87 + rng.normal(0, 0.05, 300), rng.uniform(-60, 70, 50)]
    lon = np.r_[2.35 + rng.normal(0, 0.05, 400), 151.2 + rng.normal(0, 0.05, 300), rng.uniform(-180, 180, 50)]
    grid = build_grid(lat, lon, t_max=40, t_min=3, max_level=12, hierarchy=(4, 2))
    assert grid.counts.sum() == len(lat)
    assert grid.area_km2.sum() == pytest.approx(4 * np.pi * EARTH_RADIUS_KM**2, rel=1e-4)
    assert np.array_equal(grid.lookup(lat, lon), grid.lookup(lat, lon))
    counts = np.bincount(grid.lookup(lat, lon), minlength=len(grid))
    assert np.array_equal(counts, grid.counts)
    paris = grid.lookup([48.85], [2.35])[0]
    assert grid.cell_country[paris] == "FR" and grid.counts[paris] <= 40
    path = tmp_path / "g.npz"
    grid.save(path)
    again = CellGrid.load(path)
    assert np.array_equal(again.ids, grid.ids) and again.countries == grid.countries
    assert again.meta == grid.meta and np.array_equal(again.hierarchy["coarse"], grid.hierarchy["coarse"])


def test_build_rejects_bad_parameters():
    with pytest.raises(ConfigError):
        build_grid([0.0], [0.0], t_max=5, t_min=10)
    with pytest.raises(ConfigError):
        build_grid([0.0], [0.0], max_level=31)


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        CellGrid.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="cannot read grid"):
        CellGrid.load(bad)


def test_read_coordinates(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("Latitude,Longitude,x\n1.5,2.5,a\n-3,4,b\n")
    lat, lon, digest = read_coordinates(f)
    assert lat.tolist() == [1.5, -3.0] and lon.tolist() == [2.5, 4.0] and len(digest) == 64
    f.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="LAT and LON"):
        read_coordinates(f)


def test_polygon_has_member_children_as_holes(grid):
    coarse = int(np.argmin(grid.levels))
    rings = grid.polygon(coarse)
    assert len(rings) >= 1 and all(r[0] == r[-1] for r in rings)
    fine = grid.lookup([48.8566], [2.3522])[0]
    (ring,) = grid.polygon(fine)
    lons, lats = zip(*ring)
    assert min(lons) < 2.36 and max(lats) > 48.85  # a small ring around central Paris


@pytest.mark.slow
def test_shipped_grid_is_reproducible(shared, tmp_path):
    lat, lon, digest = read_coordinates(shared / "data" / "gps_gallery_100k.csv")
    shipped = CellGrid.default()
    assert digest == shipped.meta["source_sha256"]
    rebuilt = build_grid(lat, lon, t_max=shipped.meta["t_max"], t_min=shipped.meta["t_min"],
                         max_level=shipped.meta["max_level"], hierarchy=shipped.meta["hierarchy_factors"])
    assert np.array_equal(rebuilt.ids, shipped.ids) and np.array_equal(rebuilt.counts, shipped.counts)
