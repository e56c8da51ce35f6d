import pytest
import torch

from reid_core.data.base import Record
from reid_core.extract import Features
from reid_core.viz import pick_queries, rank_gallery


def feats(vectors, pids, camids):
    n = len(pids)
    return Features(torch.tensor(vectors, dtype=torch.float32), torch.tensor(pids), torch.tensor(camids),
                    [f"img{i}.jpg" for i in range(n)])


def test_ranks_by_cosine_and_drops_same_identity_same_camera():
    query = feats([[1.0, 0.0]], [7], [0])
    # gallery: a same-pid same-camera copy (dropped), then entries at known angles
    gallery = feats(
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.1], [-1.0, 0.0]],
        [7, 3, 7, 4, 7],
        [0, 1, 1, 2, 2],
    )
    (r,) = rank_gallery(query, gallery, topk=3)
    assert r.gallery_index == [3, 2, 1]
    assert r.correct == [False, True, False]
    assert r.sims == pytest.approx([2 / (4 + 0.01) ** 0.5, 1 / 2**0.5, 0.0], abs=1e-6)
    assert r.num_valid == 4
    assert [m.pid for m in r.matches] == [4, 7, 3] and r.query == Record("img0.jpg", 7, 0)


def test_keeping_same_camera_and_short_galleries():
    query = feats([[1.0, 0.0]], [7], [0])
    gallery = feats([[1.0, 0.0], [0.0, 1.0]], [7, 3], [0, 1])
    (kept,) = rank_gallery(query, gallery, topk=5, remove_same_camera=False)
    assert kept.gallery_index == [0, 1] and kept.correct == [True, False]
    (dropped,) = rank_gallery(query, gallery, topk=5)
    assert dropped.gallery_index == [1] and dropped.num_valid == 1


def test_pick_queries_spreads_over_the_list():
    records = [Record(f"{i}.jpg", i, 0) for i in range(10)]
    assert [r.pid for r in pick_queries(records, 3)] == [0, 4, 9]  # round(0), round(4.5) -> 4, 9
    assert pick_queries(records, 0) == records and pick_queries(records, 20) == records
    drawn = pick_queries(records, 4, seed=1)
    assert len({r.pid for r in drawn}) == 4 and drawn == sorted(drawn, key=lambda r: r.pid)
