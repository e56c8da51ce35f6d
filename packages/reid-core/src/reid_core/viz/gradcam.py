"""Grad-CAM for re-identification: which pixels make two people look alike to the model.

A re-identification model has no class to explain, so the target is the **cosine similarity**
between an image's features and a reference feature vector (as in the seed's tool):

* on each gallery match, the reference is the query's features: where the match resembles the query;
* on the query, the reference is each match's features in turn: where the query resembles that match.

The layer is the model's ``meta.cam_layer`` (declared by its family); models whose layer outputs
tokens (TransReID's ViTs) expose ``reshape_transform`` to lay them out as a map. The CAMs are
computed by the [grad-cam](https://github.com/jacobgil/pytorch-grad-cam) package.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import ReIDDataset
from .figure import RIGHT, WRONG, VizError, display_image, draw_cell, new_figure, person_label, require, save_figure
from .matching import RankList, match_queries


class SimilarityTarget:
    """Grad-CAM target: the cosine similarity of one output feature vector to a fixed reference."""

    def __init__(self, reference: torch.Tensor) -> None:
        self.reference = reference.detach().float().flatten()

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(output.float().flatten(), self.reference.to(output.device), dim=0)


def cam_target(model: nn.Module, layer: str | None = None) -> tuple[list[nn.Module], Callable[[torch.Tensor], torch.Tensor] | None]:
    """The layer Grad-CAM attaches to, and the reshape transform its output needs (or ``None``).

    Args:
        model: a reid-zoo model.
        layer: a module path overriding the model's ``meta.cam_layer``.
    """
    meta = getattr(model, "meta", None)
    path = layer or (meta.cam_layer if meta is not None else None)
    name = meta.name if meta is not None else type(model).__name__
    if not path:
        raise VizError(f"{name} declares no Grad-CAM layer (meta.cam_layer); pass layer='module.path'")
    try:
        module = model.get_submodule(path)
    except AttributeError as e:
        children = ", ".join(n for n, _ in model.named_children())
        raise VizError(f"{name} has no module {path!r} for Grad-CAM (top-level modules: {children})") from e
    reshape = getattr(model, "reshape_transform", None)
    return [module], reshape if callable(reshape) else None


class _CameraBound(nn.Module):
    """grad-cam calls ``model(images)``; this passes the images' camids along for camera-aware models."""

    def __init__(self, model: nn.Module, camids: torch.Tensor | None) -> None:
        super().__init__()
        self.model = model
        self.camids = camids

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.camids is None:
            return self.model(images)
        return self.model(images, camids=self.camids)


@contextlib.contextmanager
def _gradients_on(model: nn.Module) -> Iterator[None]:
    # Gradients have to reach the CAM layer even for a model frozen with requires_grad_(False).
    frozen = [p for p in model.parameters() if not p.requires_grad]
    was_training = model.training
    for p in frozen:
        p.requires_grad_(True)
    try:
        with torch.enable_grad():
            yield
    finally:
        for p in frozen:
            p.requires_grad_(False)
            p.grad = None
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def _device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def similarity_cams(
    model: nn.Module,
    images: torch.Tensor,
    references: torch.Tensor,
    *,
    camids: torch.Tensor | Sequence[int] | None = None,
    layer: str | None = None,
    aug_smooth: bool = False,
) -> np.ndarray:
    """Grad-CAM of each image for the similarity of its features to ``references[i]``.

    Args:
        model: a reid-zoo model (run in eval mode; its mode is restored afterwards).
        images: float ``[B, 3, H, W]`` in [0, 1].
        references: ``[B, D]`` feature vectors, one per image.
        camids: zero-based cameras of the images (used by camera-aware models only).
        layer: a module path overriding the model's ``meta.cam_layer``.
        aug_smooth: average over flips and brightness changes (grad-cam's test-time
            augmentation, as the seed did; six times slower).

    Returns:
        float32 ``[B, H, W]`` maps in [0, 1], at the images' size.
    """
    if len(references) != len(images):
        raise VizError(f"similarity_cams: {len(images)} images but {len(references)} reference features")
    GradCAM = require("pytorch_grad_cam").GradCAM
    target_layers, reshape = cam_target(model, layer)
    device = _device(model)
    camera_aware = bool(getattr(getattr(model, "meta", None), "camera_aware", False))
    cams = torch.as_tensor(camids, device=device).long().reshape(-1) if camera_aware and camids is not None else None
    if camera_aware and cams is None:
        cams = torch.zeros(len(images), dtype=torch.long, device=device)
    wrapped = _CameraBound(model, cams)
    targets = [SimilarityTarget(r) for r in references]
    with _gradients_on(model):
        cam = GradCAM(model=wrapped, target_layers=target_layers, reshape_transform=reshape)
        # not grad-cam's `with` block: its __exit__ swallows IndexErrors raised inside
        try:
            maps = cam(input_tensor=images.float().to(device), targets=targets, aug_smooth=aug_smooth)
        finally:
            cam.activations_and_grads.release()
    return np.asarray(maps, dtype=np.float32)


def overlay(image: torch.Tensor, cam: np.ndarray, image_weight: float = 0.6) -> np.ndarray:
    """A CAM drawn over an image (float ``[3, H, W]`` in [0, 1]) as a uint8 ``H x W x 3`` heat map."""
    show = require("pytorch_grad_cam.utils.image").show_cam_on_image
    hwc = image.detach().cpu().permute(1, 2, 0).numpy().astype(np.float32)
    return show(hwc, cam, use_rgb=True, image_weight=image_weight)


def gradcam_figure(
    rank: RankList,
    query_image: torch.Tensor,
    match_images: Sequence[torch.Tensor],
    match_cams: np.ndarray,
    query_cams: np.ndarray,
    *,
    topk: int | None = None,
    dpi: int = 100,
    image_weight: float = 0.6,
) -> Any:
    """Three rows: the rank list, the CAM on each match, and the CAM on the query for each match.

    The figure is ``1.5 * (topk + 1)`` by ``9`` inches.
    """
    cols = 1 + (topk if topk is not None else len(rank.matches))
    fig, axes = new_figure(3, cols, dpi=dpi)
    q = rank.query
    draw_cell(axes[0, 0], query_image, ylabel="Query", xlabel=person_label(q.pid, q.camid))
    draw_cell(axes[1, 0], None)
    draw_cell(axes[2, 0], None)
    for j in range(cols - 1):
        if j >= len(rank.matches):
            for r in range(3):
                draw_cell(axes[r, j + 1], None)
            continue
        m = rank.matches[j]
        first = j == 0
        draw_cell(
            axes[0, j + 1],
            match_images[j],
            title=f"sim:{rank.sims[j]:.2f}",
            xlabel=person_label(m.pid, m.camid),
            ylabel="Match" if first else None,
            edge=RIGHT if rank.correct[j] else WRONG,
        )
        draw_cell(axes[1, j + 1], overlay(match_images[j], match_cams[j], image_weight), ylabel="Match CAM" if first else None)
        draw_cell(axes[2, j + 1], overlay(query_image, query_cams[j], image_weight), ylabel="Query CAM" if first else None)
    return fig


@torch.no_grad()
def _features(model: nn.Module, images: torch.Tensor, camids: list[int]) -> torch.Tensor:
    meta = getattr(model, "meta", None)
    kwargs = {"camids": torch.tensor(camids, device=images.device)} if meta is not None and meta.camera_aware else {}
    return model(images, **kwargs).float()


def render_gradcam(
    model: nn.Module,
    dataset: ReIDDataset,
    out_dir: str | os.PathLike,
    *,
    queries: int = 4,
    topk: int = 5,
    layer: str | None = None,
    aug_smooth: bool = False,
    query_seed: int | None = None,
    remove_same_camera: bool = True,
    dpi: int = 100,
    image_weight: float = 0.6,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
) -> list[Path]:
    """Write one Grad-CAM rank-list PNG per query: ``out_dir/gradcam_000.png``, ...

    Each is ``round(1.5 * (topk + 1) * dpi)`` pixels wide and ``round(9 * dpi)`` high. See
    :func:`similarity_cams` for ``layer`` and ``aug_smooth``, and
    :func:`~reid_core.viz.matching.match_queries` for the others.
    """
    ranks = match_queries(
        model, dataset, queries=queries, topk=topk, query_seed=query_seed, remove_same_camera=remove_same_camera,
        device=device, batch_size=batch_size, num_workers=num_workers, progress=progress,
    )
    size = tuple(getattr(model, "input_size", (256, 128)))
    where = _device(model)
    was_training = model.training
    model.eval()
    paths = []
    try:
        for n, rank in enumerate(ranks):
            q_img = display_image(rank.query.path, size)
            m_imgs = [display_image(m.path, size) for m in rank.matches]
            k = len(m_imgs)
            if k:
                batch = torch.stack(m_imgs).to(where)
                m_cams = [m.camid for m in rank.matches]
                q_batch = q_img[None].expand(k, -1, -1, -1).to(where)
                q_feat = _features(model, q_img[None].to(where), [rank.query.camid])
                m_feats = _features(model, batch, m_cams)
                match_cams = similarity_cams(model, batch, q_feat.expand(k, -1), camids=m_cams, layer=layer, aug_smooth=aug_smooth)
                query_cams = similarity_cams(
                    model, q_batch, m_feats, camids=[rank.query.camid] * k, layer=layer, aug_smooth=aug_smooth
                )
            else:
                match_cams = query_cams = np.zeros((0, *size), dtype=np.float32)
            fig = gradcam_figure(rank, q_img, m_imgs, match_cams, query_cams, topk=topk, dpi=dpi, image_weight=image_weight)
            paths.append(save_figure(fig, Path(out_dir) / f"gradcam_{n:03d}.png"))
    finally:
        model.train(was_training)
    return paths
