import math

import pytest
import torch
import torch.nn.functional as F
from reid_core.training.losses import (
    CenterLoss,
    circle_logits,
    cosface_logits,
    cross_entropy_label_smooth,
    pairwise_distance,
    triplet_loss,
)


def test_label_smoothing_matches_definition():
    torch.manual_seed(0)
    logits, targets, eps = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0]), 0.1
    soft = torch.full((6, 5), eps / 5)
    soft[torch.arange(6), targets] += 1 - eps
    expected = -(soft * F.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(cross_entropy_label_smooth(logits, targets, eps), expected, atol=1e-6)


def brute_hard_triplet(x, y, margin):
    d = torch.cdist(x, x)
    losses = []
    for i in range(len(y)):
        pos = [d[i, j] for j in range(len(y)) if y[j] == y[i]]
        neg = [d[i, j] for j in range(len(y)) if y[j] != y[i]]
        ap, an = max(pos), min(neg)
        losses.append(F.softplus(ap - an) if margin is None else F.relu(ap - an + margin))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("margin", [0.3, None])
def test_hard_triplet_matches_brute_force(margin):
    torch.manual_seed(1)
    x, y = torch.randn(8, 4), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    assert torch.allclose(triplet_loss(x, y, margin), brute_hard_triplet(x, y, margin), atol=1e-5)


def test_weighted_triplet_and_separated_classes():
    y = torch.tensor([0, 0, 1, 1])
    far = torch.tensor([[0.0, 0], [0.1, 0], [10, 0], [10.1, 0]])
    assert triplet_loss(far, y, 0.3) == 0
    assert triplet_loss(far, y, mining="weighted") < 1e-3
    close = torch.tensor([[0.0, 0], [5, 0], [0.1, 0], [5.1, 0]])
    assert triplet_loss(close, y, mining="weighted") > 1.0


def test_distances():
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert torch.allclose(pairwise_distance(x, x)[0, 1], torch.tensor(math.sqrt(9 + 9)))
    assert torch.allclose(pairwise_distance(x, x, "cosine")[0, 1], torch.tensor(1 - 0.8))


def test_center_loss_pulls_to_centers():
    loss = CenterLoss(3, 2)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0], [1, 1], [2, 2]]))
    feats = torch.tensor([[0.0, 0], [1, 2]])
    assert torch.allclose(loss(feats, torch.tensor([0, 1])), torch.tensor(0.5))


def test_margin_logits():
    cos = torch.tensor([[0.9, 0.1], [0.2, 0.7]])
    y = torch.tensor([0, 1])
    cf = cosface_logits(cos, y, scale=10, margin=0.2)
    assert torch.allclose(cf, torch.tensor([[7.0, 1.0], [2.0, 5.0]]))
    c = circle_logits(cos, y, scale=1, margin=0.25)
    # target: (1 + m - s) * (s - (1 - m)); non-target: (s + m) * (s - m)
    assert torch.allclose(c[0, 0], torch.tensor((1.25 - 0.9) * (0.9 - 0.75)))
    assert torch.allclose(c[0, 1], torch.tensor((0.1 + 0.25) * (0.1 - 0.25)))
