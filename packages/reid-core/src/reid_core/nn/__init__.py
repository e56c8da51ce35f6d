"""Building blocks that more than one family uses, under the upstream parameter names."""

from .ibn import IBN
from .neck import bnneck, id_classifier
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
    "bnneck",
    "id_classifier",
    "resnet_depths",
]
