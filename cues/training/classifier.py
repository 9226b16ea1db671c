"""Training the visual heads: cached backbone features, great-circle label smoothing, hierarchy.

`geosleuth train-classifier` and `geosleuth gallery build` run through here. Features are cached
in the output folder and the cache is resumable (an interrupted run picks up where it stopped);
head training checkpoints every epoch and resumes from the checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from geosleuth.cues.engines.heads import SCENES, CellHeads, grid_fingerprint
from geosleuth.cues.training import TrainSettings
from geosleuth.errors import GeosleuthError
from geosleuth.fusion.grid import HIERARCHY
from geosleuth.geo import EARTH_RADIUS_KM, to_xyz
from geosleuth.labels import author_folds, read_labels

if TYPE_CHECKING:
    from geosleuth.cues.engines.backbone import Backbone
    from geosleuth.fusion.grid import CellGrid

log = logging.getLogger(__name__)


# ---- features -------------------------------------------------------------------------------
def extract_features(backbone: "Backbone", paths: Sequence[Path], cache: Path | None = None,
                     batch_size: int = 32, save_every: int = 256, progress: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Features of image files as (features (n, dim) float16, ok (n,) bool).

    With `cache`, features already computed for the same file names are reused and progress is
    saved every `save_every` images, so an interrupted run resumes. Unreadable images are logged,
    left as zeros and marked not ok.
    """
    from tqdm import tqdm

    names = [str(p.name) for p in paths]
    done: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["backbone"]) == _backbone_key(backbone):
                done = dict(zip(z["names"].tolist(), z["features"]))
    feats = np.zeros((len(paths), backbone.dim), np.float16)
    ok = np.zeros(len(paths), bool)
    todo = []
    for i, name in enumerate(names):
        if name in done:
            feats[i], ok[i] = done[name], True
        else:
            todo.append(i)
    def load(i: int) -> np.ndarray | None:
        try:
            return backbone.pixels_of(paths[i])
        except GeosleuthError as exc:
            log.warning("skipping %s: %s", paths[i], exc)
            return None

    bar = tqdm(total=len(todo), desc="features", unit="img", file=sys.stderr, disable=not progress or not todo)
    with ThreadPoolExecutor(max_workers=2) as pool:  # decoding overlaps the backbone
        for start in range(0, len(todo), save_every):
            chunk = todo[start:start + save_every]
            loaded = pool.map(load, chunk)  # submitted at once: decoding runs ahead of the backbone
            for b in range(0, len(chunk), batch_size):
                idx = chunk[b:b + batch_size]
                pixels = [(i, x) for i, x in zip(idx, islice(loaded, len(idx))) if x is not None]
                if pixels:
                    kept = [i for i, _ in pixels]
                    feats[kept] = backbone.features(np.stack([x for _, x in pixels]))
                    ok[kept] = True
                bar.update(len(idx))
            if cache is not None:
                done.update({names[i]: feats[i] for i in chunk if ok[i]})
                _save_cache(cache, backbone, done)
    bar.close()
    return feats, ok


def _backbone_key(backbone: "Backbone") -> str:
    return f"{backbone.name}:{backbone.weights}:{backbone.image_size}"


def _save_cache(path: Path, backbone: "Backbone", done: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, backbone=np.array(_backbone_key(backbone)), names=np.array(list(done)),
                 features=np.stack(list(done.values())).astype(np.float16))
    os.replace(tmp, path)


# ---- targets --------------------------------------------------------------------------------
def level_centres(grid: "CellGrid") -> dict[str, np.ndarray]:
    """Unit vectors of each level's cells: the photo-weighted mean of their finest cells."""
    fine = to_xyz(grid.lat, grid.lon) * (grid.counts + 1.0)[:, None]
    out = {}
    for level in HIERARCHY:
        sums = np.zeros((len(grid.hierarchy_ids[level]), 3))
        np.add.at(sums, grid.hierarchy[level], fine)
        out[level] = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return out


def smoothed_targets(xyz, centres, tau_km: float):
    """PIGEON label smoothing: y_c ∝ exp(-(d(c, truth) - d(nearest, truth)) / tau) (torch)."""
    import torch

    d = torch.arccos(torch.clamp(xyz @ centres.T, -1.0, 1.0)) * EARTH_RADIUS_KM
    y = torch.exp(-(d - d.min(dim=1, keepdim=True).values) / tau_km)
    return y / y.sum(dim=1, keepdim=True)


# ---- heads ----------------------------------------------------------------------------------
TEMPERATURES = np.r_[0.0, np.round(np.exp(np.linspace(np.log(0.02), np.log(2.0), 25)), 4)]


def train_heads(features: np.ndarray, lat: np.ndarray, lon: np.ndarray, scenes: np.ndarray | None,
                grid: "CellGrid", settings: TrainSettings = TrainSettings(), authors: Sequence[str] | None = None,
                checkpoint: Path | None = None, progress: bool = True, meta: dict | None = None) -> CellHeads:
    """Fit the heads, calibrated: first on all but a held-out share of authors, to choose the
    temperature that best predicts the held-out photos; then on everything, scaled by it.

    Heads fitted on a few thousand photos are overconfident on new photographers; the temperature
    makes their likelihood honest (1 = as trained).
    """
    n = len(features)
    groups = list(authors) if authors is not None else [str(i) for i in range(n)]
    held = author_folds(groups, 1000, salt="holdout") < settings.holdout * 1000
    temperature, calibration = 1.0, {}
    if 0 < held.sum() < n:
        part = _fit_heads(features[~held], lat[~held], lon[~held], None if scenes is None else scenes[~held],
                          grid, settings, None, progress, {})
        ll = part.visual_log_likelihood(features[held], grid)
        ll += part.scene_log_likelihood(part.scene_probabilities(features[held]), grid)
        target = _targets(lat[held], lon[held], grid, settings.tau_km)
        losses = [_cross_entropy(grid.log_prior(settings.prior_smoothing) + t * ll, target) for t in TEMPERATURES]
        temperature = float(TEMPERATURES[int(np.argmin(losses))])
        calibration = {"temperature": temperature, "held_out_images": int(held.sum()),
                       "loss_prior_only": round(float(losses[0]), 4),
                       "loss_at_1": round(float(losses[int(np.argmin(np.abs(TEMPERATURES - 1)))]), 4),
                       "loss_at_temperature": round(float(min(losses)), 4)}
    heads = _fit_heads(features, lat, lon, scenes, grid, settings, checkpoint, progress,
                       {**(meta or {}), "calibration": calibration})
    return heads.scaled(temperature)


def _targets(lat: np.ndarray, lon: np.ndarray, grid: "CellGrid", tau_km: float) -> np.ndarray:
    import torch

    return smoothed_targets(torch.from_numpy(to_xyz(lat, lon)).float(),
                            torch.from_numpy(level_centres(grid)["fine"]).float(), tau_km).numpy()


def _cross_entropy(log_post: np.ndarray, target: np.ndarray) -> float:
    log_p = log_post - np.logaddexp.reduce(log_post, axis=1, keepdims=True)
    return float(-(target * log_p).sum(axis=1).mean())


def _fit_heads(features: np.ndarray, lat: np.ndarray, lon: np.ndarray, scenes: np.ndarray | None,
               grid: "CellGrid", settings: TrainSettings, checkpoint: Path | None, progress: bool,
               meta: dict) -> CellHeads:
    """Fit the heads on frozen features (`_Task` is the objective); `scenes` (n, 3) are soft
    scene labels, rows of NaN where unknown."""
    import torch
    from tqdm import tqdm

    s = settings
    torch.manual_seed(s.seed)
    x = torch.from_numpy(np.asarray(features, np.float32))
    mean, std = x.mean(0), x.std(0)
    scale = std + 1e-3 * std.mean() + 1e-12
    x = (x - mean) / scale
    xyz = torch.from_numpy(to_xyz(lat, lon)).float()
    sc = torch.full((len(x), 3), float("nan")) if scenes is None else torch.from_numpy(np.asarray(scenes, np.float32))
    task = _Task(grid, s)
    model = _head_net(x.shape[1], task.sizes, s.bottleneck)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    first_epoch = 0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        same = {k: v for k, v in state["settings"].items() if k != "epochs"} == \
            {k: v for k, v in s.__dict__.items() if k != "epochs"}
        if same and state["n"] == len(x) and state["grid"] == grid_fingerprint(grid):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            first_epoch = state["epoch"]
            log.info("resuming head training at epoch %d", first_epoch)

    gen = torch.Generator().manual_seed(s.seed)
    for epoch in tqdm(range(first_epoch, s.epochs), desc="heads", unit="epoch", file=sys.stderr,
                      disable=not progress, initial=first_epoch, total=s.epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), s.batch_size):
            b = order[i:i + s.batch_size]
            loss = task.loss(model, x[b], sc[b], xyz[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                        "settings": s.__dict__, "n": len(x), "grid": grid_fingerprint(grid)}, checkpoint)

    return _to_heads(model, mean.numpy(), scale.numpy(),
                     {"grid": grid_fingerprint(grid), "scenes": list(SCENES), "settings": s.__dict__, **meta})


def finetune(backbone: "Backbone", heads: CellHeads, paths: Sequence[Path], lat: np.ndarray, lon: np.ndarray,
             scenes: np.ndarray | None, grid: "CellGrid", settings: TrainSettings = TrainSettings(),
             epochs: int = 3, device: str | None = None, progress: bool = True) -> CellHeads:
    """Fine-tune the backbone and the heads end to end on the images (meant for a GPU). The
    backbone learns at a tenth of the heads' rate; the feature standardisation and the
    temperature found on frozen features are kept. `backbone.model` is updated in place."""
    import torch
    from tqdm import tqdm

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    task = _Task(grid, settings, device)
    net = _head_net(len(heads.mean), task.sizes, heads.projection.shape[1])
    with torch.no_grad():
        for name, array in [("projection", heads.projection), ("scene", heads.scene_weight),
                            *[(f"cells_{lv}", heads.cells[lv]) for lv in HIERARCHY],
                            *[(f"scene_bias_{lv}", heads.scene_bias[lv]) for lv in HIERARCHY]]:
            net[name].weight.copy_(torch.from_numpy(array.T))
        net["scene"].bias.copy_(torch.from_numpy(heads.scene_offset))
    net.to(device)
    encoder = backbone.model.to(device).train()
    mean, scale = (torch.from_numpy(a).to(device) for a in (heads.mean, heads.scale))
    opt = torch.optim.AdamW([{"params": net.parameters(), "lr": settings.lr},
                             {"params": encoder.parameters(), "lr": settings.lr / 10}],
                            weight_decay=settings.weight_decay)
    xyz = torch.from_numpy(to_xyz(lat, lon)).float().to(device)
    sc = torch.full((len(paths), 3), float("nan")) if scenes is None else torch.from_numpy(np.asarray(scenes, np.float32))
    sc = sc.to(device)
    gen = torch.Generator().manual_seed(settings.seed)
    bar = tqdm(total=epochs * len(paths), desc="fine-tune", unit="img", file=sys.stderr, disable=not progress)
    for _ in range(epochs):
        order = torch.randperm(len(paths), generator=gen)
        for i in range(0, len(paths), settings.batch_size):
            b = order[i:i + settings.batch_size]
            pixels = np.stack([backbone.pixels_of(paths[j]) for j in b.tolist()])
            features = (encoder(torch.from_numpy(pixels).to(device)) - mean) / scale
            loss = task.loss(net, features, sc[b.to(device)], xyz[b.to(device)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(len(b))
    bar.close()
    backbone.model = encoder.eval().cpu()
    return _to_heads(net.cpu(), heads.mean, heads.scale, {**heads.meta, "finetuned": {"epochs": epochs,
                                                                                       "device": device}})


def _head_net(dim: int, sizes: dict[str, int], bottleneck: int):
    from torch import nn

    net = nn.ModuleDict({
        "projection": nn.Linear(dim, bottleneck, bias=False),
        "scene": nn.Linear(dim, 3),
        **{f"cells_{lv}": nn.Linear(bottleneck, sizes[lv], bias=False) for lv in HIERARCHY},
        **{f"scene_bias_{lv}": nn.Linear(3, sizes[lv], bias=False) for lv in HIERARCHY},
    })
    for lv in HIERARCHY:  # start at the prior
        nn.init.zeros_(net[f"cells_{lv}"].weight)
        nn.init.zeros_(net[f"scene_bias_{lv}"].weight)
    return net


def _to_heads(net, mean: np.ndarray, scale: np.ndarray, meta: dict) -> CellHeads:
    def weight(name: str) -> np.ndarray:
        return net[name].weight.detach().cpu().float().numpy().T.copy()

    return CellHeads(mean, scale, weight("projection"), {lv: weight(f"cells_{lv}") for lv in HIERARCHY},
                     {lv: weight(f"scene_bias_{lv}") for lv in HIERARCHY}, weight("scene"),
                     net["scene"].bias.detach().cpu().float().numpy().copy(), meta)


class _Task:
    """The training objective on a grid: hierarchy-combined cell distribution + scene."""

    def __init__(self, grid: "CellGrid", s: TrainSettings, device: str = "cpu") -> None:
        import torch

        self.s = s
        self.log_prior = torch.from_numpy(grid.log_prior(s.prior_smoothing)).float().to(device)
        self.anc = {lv: torch.from_numpy(grid.hierarchy[lv]).long().to(device) for lv in HIERARCHY}
        self.sizes = {lv: len(grid.hierarchy_ids[lv]) for lv in HIERARCHY}
        self.centres = torch.from_numpy(level_centres(grid)["fine"]).float().to(device)

    def loss(self, net, x, scenes, xyz):
        """Cross-entropy of the combined fine distribution and its coarser marginals against
        smoothed targets, plus the scene head's cross-entropy where the scene is labelled.
        The cell heads see the labelled scene (teacher forcing), else the predicted one."""
        import torch

        has_scene = ~torch.isnan(scenes).any(dim=1)
        known = torch.nan_to_num(scenes)
        scene_logits = net["scene"](x)
        scene_p = torch.where(has_scene[:, None], known, scene_logits.softmax(-1).detach())
        h = net["projection"](x)
        z = self.log_prior.expand(len(x), -1)
        for lv in HIERARCHY:
            z = z + (net[f"cells_{lv}"](h) + net[f"scene_bias_{lv}"](scene_p))[:, self.anc[lv]]
        p = z.softmax(-1)
        target = smoothed_targets(xyz, self.centres, self.s.tau_km)
        loss = 0.0
        for lv in HIERARCHY:
            p_level = torch.zeros(len(x), self.sizes[lv], device=x.device).index_add_(1, self.anc[lv], p)
            y_level = torch.zeros(len(x), self.sizes[lv], device=x.device).index_add_(1, self.anc[lv], target)
            loss = loss - (y_level * torch.log(p_level + 1e-12)).sum(-1).mean() / len(HIERARCHY)
        if has_scene.any():
            loss = loss - (known * scene_logits.log_softmax(-1)).sum(-1)[has_scene].mean()
        return loss


# ---- commands -------------------------------------------------------------------------------
def _labelled_features(images: Path, labels_csv: Path, backbone: "Backbone", cache: Path, progress: bool):
    labels = read_labels(labels_csv)
    if not Path(images).is_dir():
        raise GeosleuthError(f"image folder not found: {images}")
    paths = [Path(images) / lb.image_id for lb in labels]
    features, ok = extract_features(backbone, paths, cache, progress=progress)
    missing = [lb.image_id for lb, good in zip(labels, ok) if not good]
    if missing:
        log.warning("%d of %d images could not be read (e.g. %s)", len(missing), len(labels), missing[0])
    if not ok.any():
        raise GeosleuthError(f"none of the {len(labels)} labelled images in {images} could be read")
    return [lb for lb, good in zip(labels, ok) if good], features[ok], len(missing)


def train_classifier(images: Path, labels_csv: Path, out: Path, grid: "CellGrid", backbone: str = "efficientnet_lite0",
                     backbone_weights: str | None = "embedded", image_size: int = 224,
                     settings: TrainSettings = TrainSettings(), finetune_epochs: int | None = None,
                     progress: bool = True) -> Path:
    """Features (cached in `out`, resumable), heads (checkpointed, resumable) → `out/heads.npz`.

    `finetune_epochs` (default: 3 when a GPU is present, else 0) then fine-tunes the backbone
    end to end and writes it to `out/backbone.pt`."""
    import torch

    from geosleuth.cues.engines.backbone import build_backbone, save_backbone

    out = Path(out)
    bb = build_backbone(backbone, backbone_weights, image_size)
    labels, features, unreadable = _labelled_features(images, labels_csv, bb, out / "features.npz", progress)
    scenes = np.array([lb.scene if lb.scene is not None else (np.nan,) * 3 for lb in labels], np.float64)
    meta = {"backbone": {"name": backbone, "weights": str(backbone_weights), "image_size": image_size},
            "trained_on": {"labels": Path(labels_csv).name, "images": len(labels), "unreadable": unreadable,
                           "authors": len({lb.author for lb in labels if lb.author})},
            "grid_meta": {k: grid.meta.get(k) for k in ("source", "t_max", "t_min", "max_level") if k in grid.meta}}
    lat, lon = np.array([lb.lat for lb in labels]), np.array([lb.lon for lb in labels])
    heads = train_heads(features, lat, lon, scenes, grid, settings, authors=[lb.author or lb.image_id for lb in labels],
                        checkpoint=out / "checkpoint.pt", progress=progress, meta=meta)
    if finetune_epochs is None:
        finetune_epochs = 3 if torch.cuda.is_available() else 0
    if finetune_epochs > 0:
        heads = finetune(bb, heads, [Path(images) / lb.image_id for lb in labels], lat, lon, scenes, grid,
                         settings, finetune_epochs, progress=progress)
        save_backbone(bb, out / "backbone.pt")
        heads.meta["backbone"]["weights"] = str(out / "backbone.pt")
    heads.save(out / "heads.npz")
    (out / "training.json").write_text(json.dumps(heads.meta, indent=2) + "\n")
    return out / "heads.npz"


def build_gallery(images: Path, labels_csv: Path, out: Path, backbone: str = "efficientnet_lite0",
                  backbone_weights: str | None = "embedded", image_size: int = 224, progress: bool = True):
    """Features of geotagged photos → a gallery file for search within cells."""
    from geosleuth.cues.engines.backbone import build_backbone
    from geosleuth.cues.engines.gallery import Gallery

    out = Path(out)
    bb = build_backbone(backbone, backbone_weights, image_size)
    labels, features, unreadable = _labelled_features(images, labels_csv, bb, out.with_suffix(".features.npz"),
                                                      progress)
    gallery = Gallery.from_features(features, [lb.lat for lb in labels], [lb.lon for lb in labels],
                                    [lb.image_id for lb in labels],
                                    {"backbone": {"name": backbone, "weights": str(backbone_weights),
                                                  "image_size": image_size},
                                     "labels": Path(labels_csv).name, "unreadable": unreadable})
    gallery.save(out)
    return gallery
