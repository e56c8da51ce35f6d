"""Pictures that can be read: similarities that differ read differently, thumbnails that do not
pile up, and a legend that says which colour is whom."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reid_core.data.base import Record
from reid_core.viz import rank_list_figure, tsne_figure
from reid_core.viz.matching import RankList
from reid_core.viz.ranklist import similarity_labels


def test_close_similarities_get_enough_decimals():
    labels = similarity_labels([0.98712, 0.98641, 0.97791, 0.97790])
    assert len(set(labels)) == 4
    assert labels[0].startswith("sim 0.987")
    assert similarity_labels([0.5, 0.25]) == ["sim 0.50", "sim 0.25"]  # no more decimals than needed
    assert similarity_labels([0.9, 0.9]) == ["sim 0.90", "sim 0.90"]  # equal values stay equal


def tiny_images(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i}.png"
        Image.new("RGB", (8, 16), (20 * (i % 12), 90, 160)).save(p)
        paths.append(str(p))
    return paths


def test_rank_list_titles_tell_close_matches_apart(tmp_path):
    paths = tiny_images(tmp_path, 4)
    rank = RankList(Record(paths[0], 1, 0), [Record(p, 2, 1) for p in paths[1:]], [0, 1, 2],
                    [0.98712, 0.98641, 0.98233], [False, False, False], 3)
    fig = rank_list_figure([rank], size=(16, 8), dpi=30)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["sim 0.987", "sim 0.986", "sim 0.982"]


def test_tsne_thumbnails_do_not_cover_each_other_and_the_legend_names_the_ids(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.offsetbox import AnnotationBbox

    rng = np.random.default_rng(0)
    pids = [1] * 40 + [2] * 40 + [3] * 5
    centres = {1: (0.0, 0.0), 2: (1.0, 0.2), 3: (0.5, 1.0)}
    points = np.array([centres[p] for p in pids]) + rng.normal(0, 0.05, (len(pids), 2))
    fig = tsne_figure(points, pids, paths=tiny_images(tmp_path, len(pids)), thumbnails=True, size=6, dpi=50)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    boxes = [a for a in fig.axes[0].artists if isinstance(a, AnnotationBbox)]
    assert 3 <= len(boxes) < len(pids)
    shown = {pids[int(np.argmin(np.abs(points - b.xy).sum(1)))] for b in boxes}
    assert shown == {1, 2, 3}  # even the small identity gets a picture
    extents = [b.get_window_extent(canvas.get_renderer()) for b in boxes]
    for i, a in enumerate(extents):
        for b in extents[i + 1 :]:
            assert not a.overlaps(b)
    texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert texts == ["id 1", "id 2", "id 3"]


def test_tsne_dots_have_a_legend_too():
    fig = tsne_figure(np.random.default_rng(1).normal(size=(12, 2)), [5, 7, 9] * 4)
    assert [t.get_text() for legend in fig.legends for t in legend.get_texts()] == ["id 5", "id 7", "id 9"]
