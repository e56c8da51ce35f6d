"""``reid bench eval`` runs end to end on a tiny size and its numpy reference agrees with the engine."""

import re

import numpy as np
import pytest
import torch
from reid_core.benchmarks import eval as bench
from reid_core.cli import main
from reid_core.evaluation import evaluate_features


def test_command_prints_both_implementations(capsys):
    assert main(["bench", "eval", "--size", "40,300,8", "--repeat", "1", "--reference-queries", "25"]) == 0
    out = capsys.readouterr().out
    for needle in ("40 queries x 300 gallery, dim 8", "distances", "metrics given the distance matrix",
                   "peak RSS", "numpy reference", "run on 25 of 40 queries", "speed-up"):
        assert needle in out
    diffs = re.search(r"\|mAP diff\| (\S+), \|mINP diff\| (\S+), \|Rank-1 diff\| (\S+)", out).groups()
    assert max(float(d) for d in diffs) < 1e-9


def test_bad_size():
    with pytest.raises(SystemExit, match="--size must be"):
        bench.parse_size("huge", None)
    assert bench.parse_size("msmt", None) == (bench.SIZES["msmt"], 256)
    assert bench.parse_size("10,20,4", None)[1] == 4


def test_synthetic_data_has_the_requested_structure():
    size = bench.Size(60, 400, 20, 4, num_distractors=50)
    data = bench.synthetic(size, 16, noise=0.9)
    assert data["q_feats"].shape == (60, 16) and data["g_feats"].shape == (400, 16)
    assert int((data["g_pids"] == 0).sum()) == 50
    assert set(data["q_pids"].tolist()) <= set(data["g_pids"].tolist())
    result = evaluate_features(**data)
    # identities cluster: far better than the same features with the gallery pids shuffled
    shuffled = dict(data, g_pids=data["g_pids"][torch.randperm(400, generator=torch.Generator().manual_seed(0))])
    assert result.num_valid >= 55 and result.mAP > 2 * evaluate_features(**shuffled).mAP


def test_numpy_reference_matches_engine():
    size = bench.Size(30, 200, 10, 3, num_distractors=20)
    data = {k: v.numpy() for k, v in bench.synthetic(size, 8, noise=1.5).items()}
    dist = bench.numpy_distances(data["q_feats"], data["g_feats"], "cosine")
    ref = bench.numpy_metrics(dist, data["q_pids"], data["g_pids"], data["q_camids"], data["g_camids"])
    ours = evaluate_features(**data)
    assert ours.mAP == pytest.approx(ref["mAP"], abs=1e-6)
    assert ours.num_valid == ref["num_valid"]
    assert np.isclose(ours.rank(1), ref["Rank-1"])
