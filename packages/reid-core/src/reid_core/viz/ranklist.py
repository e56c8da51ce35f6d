"""Rank-list figures: each query, then its top-k gallery matches, right ones framed green."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..data.base import ReIDDataset
from .figure import RIGHT, WRONG, display_image, draw_cell, new_figure, person_label, save_figure
from .matching import RankList, match_queries


def similarity_labels(sims: Sequence[float], *, min_digits: int = 2, max_digits: int = 6) -> list[str]:
    """Labels of a row's similarities with just enough decimals that different values read differently.

    A trained model puts its top matches within a few thousandths of each other; at two decimals
    every one reads 0.98. The decimals grow (up to ``max_digits``) until neighbours in the row that
    differ also differ on the page.
    """
    values = [float(s) for s in sims]
    digits = min_digits
    while digits < max_digits and any(
        a != b and f"{a:.{digits}f}" == f"{b:.{digits}f}" for a, b in zip(values, values[1:])
    ):
        digits += 1
    return [f"sim {v:.{digits}f}" for v in values]


def rank_list_figure(
    ranks: Sequence[RankList],
    *,
    topk: int | None = None,
    size: tuple[int, int] = (256, 128),
    dpi: int = 100,
    frame: bool = True,
) -> Any:
    """One row per query: the query, then its matches with their similarity above them (with as
    many decimals as it takes to tell the row's values apart, see :func:`similarity_labels`).

    Args:
        ranks: rank lists from :func:`~reid_core.viz.rank_gallery`.
        topk: match columns (default: the longest list); shorter lists leave cells empty.
        size: (H, W) every image is resized to.
        dpi: resolution; the figure is ``1.5 * (topk + 1)`` by ``3 * len(ranks)`` inches.
        frame: a green (right identity) or red (wrong) border around each match.

    Returns:
        A :class:`matplotlib.figure.Figure`.
    """
    if not ranks:
        raise ValueError("rank_list_figure: no rank lists to draw")
    cols = 1 + (topk if topk is not None else max(len(r.matches) for r in ranks))
    fig, axes = new_figure(len(ranks), cols, dpi=dpi)
    for row, rank in zip(axes, ranks):
        q = rank.query
        labels = similarity_labels([float(x) for x in rank.sims[: len(rank.matches)]])
        draw_cell(row[0], display_image(q.path, size), ylabel="Query", xlabel=person_label(q.pid, q.camid))
        for j, ax in enumerate(row[1:]):
            if j >= len(rank.matches):
                draw_cell(ax, None)
                continue
            m = rank.matches[j]
            draw_cell(
                ax,
                display_image(m.path, size),
                title=labels[j],
                xlabel=person_label(m.pid, m.camid),
                ylabel="Match" if j == 0 else None,
                edge=(RIGHT if rank.correct[j] else WRONG) if frame else None,
            )
    return fig


def render_rank_lists(
    model: torch.nn.Module,
    dataset: ReIDDataset,
    out_dir: str | os.PathLike,
    *,
    queries: int = 20,
    topk: int = 10,
    per_image: int = 4,
    query_seed: int | None = None,
    remove_same_camera: bool = True,
    dpi: int = 100,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
) -> list[Path]:
    """Write rank-list PNGs for ``queries`` queries of ``dataset``, ``per_image`` rows each.

    Files are ``out_dir/ranklist_000.png``, ``ranklist_001.png``, ...; each is
    ``round(1.5 * (topk + 1) * dpi)`` pixels wide and ``round(3 * rows * dpi)`` high. See
    :func:`~reid_core.viz.matching.match_queries` for the other arguments.

    Returns:
        The paths written, in order.
    """
    if per_image < 1:
        raise ValueError(f"render_rank_lists: per_image must be at least 1, got {per_image}")
    ranks = match_queries(
        model, dataset, queries=queries, topk=topk, query_seed=query_seed, remove_same_camera=remove_same_camera,
        device=device, batch_size=batch_size, num_workers=num_workers, progress=progress,
    )
    size = tuple(getattr(model, "input_size", (256, 128)))
    out = Path(out_dir)
    paths = []
    for n, start in enumerate(range(0, len(ranks), per_image)):
        fig = rank_list_figure(ranks[start : start + per_image], topk=topk, size=size, dpi=dpi)
        paths.append(save_figure(fig, out / f"ranklist_{n:03d}.png"))
    return paths
