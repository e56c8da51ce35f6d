"""Building blocks that more than one family uses, under the upstream parameter names."""

from .ibn import IBN
from .non_local import NonLocal
from .pooling import GeneralizedMeanPooling
from .resnet import Bottleneck, ResNet, resnet_depths
from .se import SELayer, SEModule

__all__ = [
    "IBN",
    "Bottleneck",
    "GeneralizedMeanPooling",
    "NonLocal",
    "ResNet",
    "SELayer",
    "SEModule",
    "resnet_depths",
]
