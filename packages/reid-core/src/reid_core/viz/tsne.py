"""t-SNE maps of features: does the model put each identity in its own cluster?"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.base import Record, ReIDDataset
from ..extract import extract_features
from .figure import VizError, display_image, require, save_figure, to_hwc

#: thumbnails are drawn at this (H, W) in pixels
THUMB_SIZE = (48, 24)


def tsne_embedding(feats: torch.Tensor | np.ndarray, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE (scikit-learn, PCA initialization) of L2-normalized features ``[N, D]`` -> ``[N, 2]``.

    The perplexity is lowered for small sets, since t-SNE needs it below the number of points.
    """
    TSNE = require("sklearn.manifold").TSNE
    x = F.normalize(torch.as_tensor(np.asarray(feats), dtype=torch.float32), dim=1).numpy()
    if len(x) < 3:
        raise VizError(f"tsne_embedding: need at least 3 feature vectors, got {len(x)}")
    perplexity = float(min(perplexity, (len(x) - 1) / 3))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(x)


def _colours(pids: Sequence[int]) -> dict[int, Any]:
    cm = require("matplotlib")
    ids = sorted(set(pids))
    for name, n in (("tab10", 10), ("tab20", 20)):
        if len(ids) <= n:
            cmap = cm.colormaps[name]
            return {pid: cmap(i) for i, pid in enumerate(ids)}
    cmap = cm.colormaps["hsv"]
    return {pid: cmap(i / len(ids)) for i, pid in enumerate(ids)}


def tsne_figure(
    points: np.ndarray,
    pids: Sequence[int],
    *,
    paths: Sequence[str] | None = None,
    thumbnails: bool = False,
    size: float = 8.0,
    dpi: int = 100,
    title: str | None = None,
    legend: bool | None = None,
) -> Any:
    """Scatter the 2-D points coloured by identity, or draw images there with a coloured frame.

    With ``thumbnails``, every point is a dot and images are drawn where they do not cover one
    another (see :func:`thumbnail_spots`), taking the identities in turn so that each shows. The
    legend names the identities (by default when there are at most 20). The figure is ``size``
    inches square, so the PNG is ``round(size * dpi)`` pixels each way.
    """
    if thumbnails and paths is None:
        raise ValueError("tsne_figure: thumbnails need the image paths")
    figure = require("matplotlib.figure")
    offsetbox = require("matplotlib.offsetbox")
    fig = figure.Figure(figsize=(size, size), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    ax.set(xticks=[], yticks=[])
    colours = _colours(pids)
    pids = list(pids)
    points = np.asarray(points, dtype=np.float64)
    for pid in sorted(colours):  # one scatter per identity: the legend gets one entry each
        mine = [i for i, p in enumerate(pids) if p == pid]
        ax.scatter(points[mine, 0], points[mine, 1], color=colours[pid], s=10 if thumbnails else 24,
                   linewidths=0, label=f"id {pid}")
    if thumbnails:
        for i in thumbnail_spots(points, pids, size=size):
            thumb = to_hwc(display_image(paths[i], THUMB_SIZE))
            box = offsetbox.AnnotationBbox(
                offsetbox.OffsetImage(thumb, zoom=dpi / 100),
                tuple(points[i]),
                frameon=True,
                pad=0.1,
                bboxprops={"edgecolor": colours[pids[i]], "linewidth": 2},
            )
            ax.add_artist(box)
        ax.margins(0.08)
    if legend if legend is not None else len(colours) <= LEGEND_MAX:
        fig.legend(loc="outside right upper", fontsize="small", frameon=False, markerscale=1.5,
                   title="identity" if len(colours) > 1 else None)
    if title:
        ax.set_title(title)
    return fig


#: identities named in the legend by default
LEGEND_MAX = 20


def thumbnail_spots(points: np.ndarray, pids: Sequence[int], *, size: float = 8.0) -> list[int]:
    """Indices of the points that get a thumbnail, none covering another.

    The thumbnails are :data:`THUMB_SIZE` pixels at 100 dpi on an axis about ``0.85 * size``
    inches wide (the figure is drawn at ``size`` inches, its dpi scaling images and axes alike).
    Points are taken one identity after the other in turn, so that a dense identity does not
    take every place.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return []
    span = np.ptp(points, axis=0)
    unit = (points - points.min(0)) / np.where(span > 0, span, 1.0)
    axis_inches = 0.85 * size / 1.16  # the 0.08 margins on each side
    # a thumbnail's extent in data units, and a frame's width of air around it
    extent = np.array([(THUMB_SIZE[1] + 8) / 100, (THUMB_SIZE[0] + 8) / 100]) / axis_inches
    turn: dict[int, int] = {}
    order = []
    for i, pid in enumerate(pids):
        order.append((turn.get(pid, 0), i))
        turn[pid] = turn.get(pid, 0) + 1
    kept: list[int] = []
    for _, i in sorted(order):
        if all(np.any(np.abs(unit[i] - unit[j]) >= extent) for j in kept):
            kept.append(i)
    return kept


def _pick_identities(records: Sequence[Record], ids: int, max_images: int, seed: int) -> list[Record]:
    real = sorted({r.pid for r in records if r.pid > 0})
    if 0 < ids < len(real):
        keep = {real[i] for i in np.linspace(0, len(real) - 1, ids).round().astype(int)}
    else:
        keep = set(real)
    chosen = [r for r in records if r.pid in keep]
    if 0 < max_images < len(chosen):
        idx = np.sort(np.random.default_rng(seed).choice(len(chosen), max_images, replace=False))
        chosen = [chosen[i] for i in idx]
    return chosen


def render_tsne(
    model: torch.nn.Module,
    dataset: ReIDDataset,
    out: str | os.PathLike,
    *,
    split: str = "gallery",
    ids: int = 20,
    max_images: int = 500,
    thumbnails: bool = False,
    perplexity: float = 30.0,
    seed: int = 0,
    size: float = 8.0,
    dpi: int = 100,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
) -> Path:
    """Write a t-SNE PNG of ``split`` features of ``dataset``, coloured by identity.

    Args:
        model: a reid-zoo model.
        dataset: the dataset; distractors (pid 0) are left out.
        out: the PNG file to write (``round(size * dpi)`` pixels square).
        split: ``"gallery"`` (default), ``"query"`` or ``"train"``.
        ids: how many identities (spread over the pids); 0 for all.
        max_images: at most this many images, drawn at random with ``seed``; 0 for no limit.
        thumbnails: draw the images themselves instead of dots.
        perplexity: t-SNE perplexity (lowered for small sets).
        seed: seed of the t-SNE and of the image sampling.
        size: figure size in inches.
        dpi: figure resolution.
        device: where to run the model (default: where it is).
        batch_size: images per forward pass.
        num_workers: DataLoader workers decoding images.
        progress: show progress bars.
    """
    records = _pick_identities(dataset.split(split), ids, max_images, seed)
    if len(records) < 3:
        raise VizError(f"render_tsne: only {len(records)} images of {dataset.name}'s {split} split to map")
    feats = extract_features(
        model, records, device=device, batch_size=batch_size, num_workers=num_workers, progress=progress, desc=split
    )
    points = tsne_embedding(feats.feats, perplexity=perplexity, seed=seed)
    name = getattr(getattr(model, "meta", None), "name", type(model).__name__)
    title = f"{name} on {dataset.name} ({split}): {len(records)} images, {len({r.pid for r in records})} identities"
    fig = tsne_figure(points, feats.pids.tolist(), paths=feats.paths, thumbnails=thumbnails, size=size, dpi=dpi, title=title)
    return save_figure(fig, out)
