"""``reid bench index`` end to end on a small gallery, and the synthetic embeddings it measures on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reid_core.benchmarks import index as bench
from reid_core.cli import main

pytest.importorskip("faiss")


def test_synthetic_views_neighbour_their_identity():
    q = bench.queries(20_000, 128, 0.7, 40)
    truth = bench.exact_neighbours(20_000, 128, 0.7, q, k=10)
    # each query is a fresh view of one identity: its nearest are mostly that identity's views
    assert (truth // bench.VIEWS == truth[:, :1] // bench.VIEWS).mean() > 0.9
    blocks = list(bench.gallery_blocks(20_000, 128, 0.7))
    x = np.concatenate([b for _, b in blocks])
    sims = q @ x.T
    np.testing.assert_array_equal(np.sort(np.argsort(-sims, axis=1)[:, :10], 1), np.sort(truth, 1))


@pytest.mark.slow
def test_command_measures_each_kind(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "index", "--sizes", "12k", "--kinds", "flat,hnsw", "--dim", "32", "--queries", "100",
                 "--param", "hnsw.M=8", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["kind"] for r in rows] == ["flat", "hnsw"]
    assert rows[0]["recall@10"] == 1.0 and rows[0]["speedup_vs_flat"] == 1.0
    assert rows[1]["params"]["M"] == 8 and 0.5 < rows[1]["recall@10"] <= 1.0
    assert all(r["peak_rss_mb"] > 0 and r["build_s"] > 0 for r in rows)
    assert "recall@10" in capsys.readouterr().out


@pytest.mark.slow
def test_distractor_evaluation(tmp_path, capsys):
    assert main(["bench", "index", "--distractors", "30000", "--dim", "16", "--json", str(tmp_path / "d.json")]) == 0
    r = json.loads((tmp_path / "d.json").read_text())
    assert r["gallery"] == 15913 + 30000 and r["queries"] == 3368 and 0 < r["mAP"] < 1
