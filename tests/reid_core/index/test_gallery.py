"""GalleryIndex on real FAISS indexes of each kind: round trip, remove, filters, atomic save, model card."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from reid_core.evaluation import evaluate_features
from reid_core.index import GalleryIndex, GalleryIndexError, evaluate_index

pytest.importorskip("faiss")

DIM = 32
# small IVF-PQ settings so that a few thousand vectors train it: 16 codes per sub-quantizer
IVFPQ = {"nlist": 16, "m": 8, "nbits": 4, "nprobe": 4}
PARAMS = {"flat": {}, "ivfpq": IVFPQ, "hnsw": {"M": 16}}
CARD = {"model": "osnet_x0_25_dpr", "weights": "catalog:seed", "input_size": [256, 128],
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "feature_dim": DIM, "flip": False}


def clustered(num_ids=120, views=24, seed=0, noise=0.8):
    """Identities x views: each identity a random centre, each view the centre plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_ids, DIM))
    x = (centres[:, None, :] + noise * rng.normal(size=(num_ids, views, DIM))).reshape(-1, DIM).astype(np.float32)
    pids = np.repeat(np.arange(num_ids), views)
    camids = np.tile(np.arange(views) % 6, num_ids)
    query = np.arange(0, len(x), views)
    gallery = np.setdiff1d(np.arange(len(x)), query)
    return (x[query], pids[query], camids[query]), (x[gallery], pids[gallery], camids[gallery])


@pytest.fixture(scope="module")
def data():
    return clustered()


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    """Each kind built once (training IVF-PQ takes a while) and saved; tests load their own copy."""
    _, (g, gp, gc) = data
    out = {}
    for kind, params in PARAMS.items():
        index = GalleryIndex(DIM, kind=kind, model_card=CARD, **params)
        index.add(g, pids=gp, camids=gc, paths=[f"g/{i}.jpg" for i in range(len(g))],
                  timestamps=np.arange(len(g), dtype=float))
        out[kind] = index.save(tmp_path_factory.mktemp(kind) / "ix").parent
        index.close()
    return out


@pytest.fixture(params=["flat", "ivfpq", "hnsw"])
def built(request, saved):
    index = GalleryIndex.load(saved[request.param])
    yield index, np.arange(len(index))
    index.close()


def test_search_finds_the_same_identity_and_returns_records(built, data):
    index, ids = built
    (q, qp, qc), (g, gp, gc) = data
    dist, hit, records = index.search(q, 5)
    assert dist.shape == hit.shape == (len(q), 5)
    assert (np.diff(dist, axis=1) >= -1e-6).all()  # nearest first
    top_pids = gp[hit[:, 0]]
    assert (top_pids == qp).mean() > 0.9
    assert records[0][0] == {"id": int(hit[0, 0]), "pid": int(gp[hit[0, 0]]), "camid": int(gc[hit[0, 0]]),
                             "path": f"g/{hit[0, 0]}.jpg", "timestamp": float(hit[0, 0])}


def test_flat_distances_are_the_metric(data):
    (q, _, _), (g, gp, gc) = data
    for metric in ("cosine", "euclidean"):
        index = GalleryIndex(DIM, metric=metric)
        index.add(g)
        dist, hit, _ = index.search(q[:4], 3, return_records=False)
        qn, gn = (q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True))
        if metric == "cosine":
            want = 1 - (qn[:4] @ gn.T)
        else:
            want = ((q[:4, None, :] - g[None]) ** 2).sum(-1)
        np.testing.assert_allclose(dist, np.take_along_axis(want, hit, 1), rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(hit[:, 0], want.argmin(1))


def test_exclude_same_camera_and_time_range(built, data):
    index, _ = built
    (q, qp, qc), (g, gp, gc) = data
    _, hit, records = index.search(q, 10, query_camids=qc, exclude_same_camera=True)
    assert (hit >= 0).all()
    assert all(r["camid"] != qc[i] for i, rows in enumerate(records) for r in rows)
    _, hit, records = index.search(q[:20], 10, time_range=(100.0, 400.0))
    assert (hit >= 0).all(), "the search widens until k entries inside the range are found"
    assert all(100.0 <= r["timestamp"] <= 400.0 for rows in records for r in rows)
    with pytest.raises(GalleryIndexError, match="query_camids"):
        index.search(q, 3, exclude_same_camera=True)


def test_remove_drops_entries_from_search_and_count(built, data):
    index, ids = built
    (q, _, _), _ = data
    _, hit, _ = index.search(q[:10], 3, return_records=False)
    gone = np.unique(hit[:, 0])
    before = len(index)
    assert index.remove(np.concatenate([gone, [10**9]])) == len(gone)
    assert len(index) == before - len(gone)
    _, again, records = index.search(q[:10], 3)
    assert not np.isin(gone, again).any()
    assert all(r["id"] not in set(gone.tolist()) for rows in records for r in rows)


def test_save_and_load_round_trip(built, data, tmp_path):
    index, _ = built
    (q, qp, qc), _ = data
    index.remove([0, 1, 2])
    want = index.search(q, 5, query_camids=qc, exclude_same_camera=True)
    index.save(tmp_path / "ix")
    index.save(tmp_path / "ix")  # a second save replaces the version, keeps one
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["CURRENT", "v000002"]
    loaded = GalleryIndex.load(tmp_path / "ix")
    got = loaded.search(q, 5, query_camids=qc, exclude_same_camera=True)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    assert got[2] == want[2]
    assert loaded.info()["count"] == len(index) and loaded.model_card == index.model_card
    more = loaded.add(q[:3], pids=qp[:3], camids=qc[:3])
    assert more.min() > max(r["id"] for rows in want[2] for r in rows)  # ids are never reused
    loaded.close()


def test_crash_during_save_keeps_the_previous_version(data, tmp_path, monkeypatch):
    (q, _, _), (g, gp, gc) = data
    index = GalleryIndex(DIM)
    index.add(g[:100], pids=gp[:100], camids=gc[:100])
    index.save(tmp_path / "ix")
    index.add(g[100:200], pids=gp[100:200], camids=gc[100:200])

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr("reid_core.index.metadata.MetadataStore.save_to", crash)
    with pytest.raises(KeyboardInterrupt):
        index.save(tmp_path / "ix")
    monkeypatch.undo()
    assert len(GalleryIndex.load(tmp_path / "ix")) == 100
    index.save(tmp_path / "ix")  # the next save clears the half-written version
    assert len(GalleryIndex.load(tmp_path / "ix")) == 200
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["CURRENT", "v000003"]


def test_sigkill_at_any_moment_of_a_save_leaves_a_loadable_index(tmp_path):
    """A real process is killed while saving again and again: the index always loads, whole."""
    script = textwrap.dedent(f"""
        import numpy as np, sys
        from reid_core.index import GalleryIndex
        x = np.random.default_rng(0).normal(size=(20000, {DIM})).astype(np.float32)
        index = GalleryIndex({DIM})
        index.add(x[:1000], pids=np.zeros(1000))
        index.save(sys.argv[1])
        print("ready", flush=True)
        n = 1000
        while True:
            index.add(x[n:n + 1000], pids=np.zeros(1000))
            n += 1000
            index.save(sys.argv[1])
    """)
    path = tmp_path / "ix"
    for delay in (0.05, 0.2, 0.45):
        proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        index = GalleryIndex.load(path)
        assert len(index) % 1000 == 0 and len(index) >= 1000
        assert index._index.ntotal == len(index)
        index.close()


def test_model_card_mismatch_is_refused(built, data):
    index, _ = built
    (q, _, _), _ = data
    index.search(q[:2], 1, model_card=dict(CARD))  # the same card is fine
    for key, value in (("model", "resnet50_bot"), ("input_size", [384, 128]), ("weights", "other.pth"),
                       ("mean", [0.5, 0.5, 0.5])):
        with pytest.raises(GalleryIndexError, match=key):
            index.search(q[:2], 1, model_card={**CARD, key: value})


def test_bad_input_gets_clear_errors(data):
    (q, _, _), (g, _, _) = data
    with pytest.raises(GalleryIndexError, match="kind"):
        GalleryIndex(DIM, kind="lsh")
    with pytest.raises(GalleryIndexError, match="nlist"):
        GalleryIndex(DIM, kind="flat", nlist=4)
    index = GalleryIndex(DIM)
    with pytest.raises(GalleryIndexError, match=r"\[n, 32\]"):
        index.add(g[:, :16])
    with pytest.raises(GalleryIndexError, match="NaN"):
        index.add(np.full((2, DIM), np.nan, dtype=np.float32))
    with pytest.raises(GalleryIndexError, match="zero"):
        index.add(np.zeros((2, DIM), dtype=np.float32))
    with pytest.raises(GalleryIndexError, match="pids has 3"):
        index.add(g[:5], pids=[1, 2, 3])
    with pytest.raises(GalleryIndexError, match="k must be"):
        index.search(q, 0)
    small = GalleryIndex(DIM, kind="ivfpq", nlist=16, m=8)
    with pytest.raises(GalleryIndexError, match=r"at least 9984 vectors.*got 100.*kind='flat'"):
        small.add(g[:100])


def test_not_an_index(tmp_path):
    with pytest.raises(GalleryIndexError, match="not a reid-zoo gallery index"):
        GalleryIndex.load(tmp_path)


def test_flat_evaluation_is_exact(data):
    (q, qp, qc), (g, gp, gc) = data
    index = GalleryIndex(DIM, kind="flat")
    index.add(g, pids=gp, camids=gc)
    result = evaluate_index(index, q, qp, qc)
    stored = np.concatenate([v for _, v in index.iter_vectors(rows=500)])
    want = evaluate_features(torch.from_numpy(q), torch.from_numpy(stored), qp, gp, qc, gc)
    assert result.mAP == pytest.approx(want.mAP, rel=1e-12)
    assert result.mINP == pytest.approx(want.mINP, rel=1e-12)
    np.testing.assert_allclose(result.cmc, want.cmc, atol=1e-12)
    assert result.extra["approximate"] == 0.0
    raw = evaluate_features(q, g, qp, gp, qc, gc)  # the features before the index normalized them
    assert result.mAP == pytest.approx(raw.mAP, abs=1e-6)


@pytest.mark.parametrize("kind", ["ivfpq", "hnsw"])
def test_approximate_evaluation_says_so(kind, data, saved, caplog):
    (q, qp, qc), (g, gp, gc) = data
    index = GalleryIndex.load(saved[kind])
    result = evaluate_index(index, q, qp, qc)
    exact = evaluate_features(q, g, qp, gp, qc, gc)
    assert result.extra["approximate"] == 1.0
    assert "approximate" in caplog.text
    assert result.rank(1) > 0.8
    if kind == "hnsw":  # a graph over the exact vectors: only entries beyond the depth are lost
        assert abs(result.mAP - exact.mAP) < 0.05
