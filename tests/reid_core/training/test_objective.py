"""The objective: how each family's train-mode output becomes the recipe's loss."""

import math

import pytest
import torch
import torch.nn.functional as F
from reid_core.training.config import default_config, merge_overrides
from reid_core.training.objective import Objective, combine, parse_groups

# Regularizers are found by import path: this module stands in for a family's losses module.
CALLS = []


def count_calls(x):
    CALLS.append(x)
    return torch.tensor(2.0)


def cfg_with(**loss):
    cfg = default_config()
    merge_overrides(cfg, {"LOSS": loss})
    return cfg


def labels():
    return torch.tensor([0, 0, 1, 1, 2, 2])


def soft_margin_hard_triplet(f, y):
    d = torch.cdist(f, f)
    same = y[:, None] == y[None, :]
    ap = torch.stack([d[i][same[i]].max() for i in range(len(y))])
    an = torch.stack([d[i][~same[i]].min() for i in range(len(y))])
    return torch.log1p(torch.exp(ap - an)).mean()


def test_tuple_output_is_ce_plus_triplet():
    torch.manual_seed(0)
    logits, feats = torch.randn(6, 3), torch.randn(6, 4)
    y = labels()
    obj = Objective(cfg_with(CE_EPSILON=0.0, TRI_MARGIN=0.0), 3, 4)
    total, parts = obj((logits, feats), y)
    ce = F.cross_entropy(logits, y)
    tri = soft_margin_hard_triplet(feats, y)
    assert parts["ce"] == pytest.approx(float(ce), rel=1e-5)
    assert parts["triplet"] == pytest.approx(float(tri), rel=1e-5)
    assert float(total) == pytest.approx(float(ce + tri), rel=1e-5)


def test_scaled_cosine_logits_get_the_circle_margin_once():
    # fast-reid's circle head returns 64 * cos without a margin; the margin is applied in the loss only.
    torch.manual_seed(1)
    cos = torch.rand(6, 3) * 2 - 1
    y = labels()
    obj = Objective(cfg_with(CE_EPSILON=0.0, TRI_WEIGHT=0.0, MARGIN_SOFTMAX="circle", MARGIN_SCALE=64.0,
                             MARGIN=0.35, COS_LOGITS_SCALE=64.0), 3, 4)
    _, parts = obj({"logits": 64 * cos, "features": torch.randn(6, 4)}, y)
    # circle loss written out from the paper: positives towards 1 + m, negatives towards -m
    m, s = 0.35, 64.0
    onehot = F.one_hot(y, 3).bool()
    ap = (1 + m - cos).clamp_min(0)
    an = (cos + m).clamp_min(0)
    z = torch.where(onehot, s * ap * (cos - (1 - m)), s * an * (cos - m))
    assert parts["ce"] == pytest.approx(float(F.cross_entropy(z, y)), rel=1e-4)
    plain = float(F.cross_entropy(64 * cos, y))
    assert parts["ce"] != pytest.approx(plain, rel=1e-2)


def test_mgn_triplet_groups_concatenate_stripes():
    torch.manual_seed(2)
    feats = [torch.randn(6, 2) for _ in range(8)]
    y = labels()
    obj = Objective(cfg_with(CE_WEIGHT=0.0, TRI_MARGIN=0.0, TRI_GROUPS="0;1;2;3,4;5,6,7"), 3, None)
    _, parts = obj({"features": feats}, y)
    groups = [feats[0], feats[1], feats[2], torch.cat(feats[3:5], 1), torch.cat(feats[5:8], 1)]
    expected = sum(soft_margin_hard_triplet(f, y) for f in groups) / 5
    assert parts["triplet"] == pytest.approx(float(expected), rel=1e-5)


def test_transreid_half_global_half_local():
    torch.manual_seed(3)
    logits = [torch.randn(6, 3) for _ in range(5)]
    y = labels()
    obj = Objective(cfg_with(CE_EPSILON=0.0, TRI_WEIGHT=0.0, BRANCH_WEIGHTING="global_local"), 3, None)
    _, parts = obj({"logits": logits, "features": None}, y)
    ce = [float(F.cross_entropy(z, y)) for z in logits]
    assert parts["ce"] == pytest.approx(0.5 * ce[0] + 0.5 * sum(ce[1:]) / 4, rel=1e-5)


def test_missing_classifier_is_reported():
    obj = Objective(cfg_with(), 3, 4)
    with pytest.raises(ValueError, match="with_classifier"):
        obj({"logits": None, "features": [torch.randn(6, 4)]}, labels())


def test_regularizers_read_their_input_from_their_start_epoch():
    CALLS.clear()
    cfg = default_config()
    merge_overrides(cfg, {"LOSS": {"TRI_WEIGHT": 0.0, "REGULARIZERS": {
        "OF": {"FUNCTION": f"{__name__}:count_calls", "INPUT": "fmaps", "WEIGHT": 0.5, "START_EPOCH": 2},
        "OW": {"FUNCTION": f"{__name__}:count_calls", "INPUT": "model"},
    }}})
    obj = Objective(cfg, 3, None)
    out = {"logits": torch.randn(6, 3), "fmaps": "the maps"}
    model = torch.nn.Linear(1, 1)
    _, early = obj(out, labels(), model=model, epoch=1)
    assert "of" not in early and early["ow"] == 2.0
    assert CALLS == [model]
    _, late = obj(out, labels(), model=model, epoch=2)
    assert late["of"] == 1.0 and late["ow"] == 2.0
    assert CALLS == [model, "the maps", model]


def test_group_parsing_and_weighting():
    assert parse_groups("", 3) == [[0], [1], [2]]
    assert parse_groups("0;1,2", 3) == [[0], [1, 2]]
    with pytest.raises(ValueError, match="names features"):
        parse_groups("0;5", 3)
    t = [torch.tensor(1.0), torch.tensor(3.0), torch.tensor(5.0)]
    assert float(combine(t, "mean")) == 3.0
    assert float(combine(t, "global_local")) == 0.5 * 1.0 + 0.5 * 4.0
    assert math.isclose(float(combine(t[:1], "global_local")), 1.0)
