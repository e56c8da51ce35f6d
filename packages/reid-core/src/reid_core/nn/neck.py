"""The BNNeck (Luo et al., "Bag of Tricks", 2019) that most families put before their classifier."""

from torch import nn


def bnneck(dim: int) -> nn.BatchNorm1d:
    """BatchNorm1d whose shift stays at zero: training only scales the normalized feature."""
    bn = nn.BatchNorm1d(dim)
    bn.bias.requires_grad_(False)
    return bn


def id_classifier(dim: int, num_classes: int) -> nn.Linear:
    """Bias-free identity classifier with the small initial weights (std 0.001) the upstreams use."""
    fc = nn.Linear(dim, num_classes, bias=False)
    nn.init.normal_(fc.weight, std=0.001)
    return fc
