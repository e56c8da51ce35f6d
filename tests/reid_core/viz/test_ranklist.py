import numpy as np
import pytest
from PIL import Image
from reid_core.viz import rank_list_figure, render_rank_lists
from reid_core.viz.figure import save_figure
from reid_core.viz.matching import RankList


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def count_colour(img, rgb, tol=40):
    return int((np.abs(img - np.array(rgb)).sum(-1) < tol).sum())


def test_rank_list_files_sizes_and_content(osnet, synthetic10, tmp_path):
    paths = render_rank_lists(osnet, synthetic10, tmp_path / "a", queries=4, topk=5, per_image=3, dpi=40)
    assert [p.name for p in paths] == ["ranklist_000.png", "ranklist_001.png"]
    # 1.5 inch by 3 inch cells: (topk + 1) columns, one row per query
    assert Image.open(paths[0]).size == (round(1.5 * 6 * 40), 3 * 3 * 40)
    assert Image.open(paths[1]).size == (round(1.5 * 6 * 40), 3 * 1 * 40)
    # other queries, other pictures
    other = render_rank_lists(osnet, synthetic10, tmp_path / "b", queries=4, topk=5, per_image=3, dpi=40, query_seed=3)
    assert not np.array_equal(pixels(paths[0]), pixels(other[0]))


def test_borders_say_right_or_wrong(synthetic10, tmp_path):
    q = synthetic10.query[0]
    same = next(g for g in synthetic10.gallery if g.pid == q.pid and g.camid != q.camid)
    other = next(g for g in synthetic10.gallery if g.pid != q.pid)
    green, red = (0x1A, 0x9E, 0x3A), (0xD6, 0x27, 0x28)

    def draw(correct, name):
        rank = RankList(q, [same, other], [0, 1], [0.9, 0.5], correct, 2)
        return pixels(save_figure(rank_list_figure([rank], size=(128, 64), dpi=40), tmp_path / name))

    both = draw([True, False], "both.png")
    assert count_colour(both, green) > 100 and count_colour(both, red) > 100
    all_wrong = draw([False, False], "wrong.png")
    # the pictures themselves may hold greens and reds (clothes): compare, the images being the same
    assert count_colour(both, green) - count_colour(all_wrong, green) > 100
    assert count_colour(all_wrong, red) - count_colour(both, red) > 100


def test_empty_input_is_an_error():
    with pytest.raises(ValueError, match="no rank lists"):
        rank_list_figure([])
