"""reid_fastreid: the fastreid family of reid-zoo.

fast-reid's Baseline (bagtricks, AGW and SBS recipes) and MGN over ResNet, ResNeSt, SE-ResNet,
MobileNetV3, OSNet and timm backbones; the model names end in ``_fastreid``.
"""

from reid_core import Family

family = Family("fastreid", package="reid-fastreid", module="reid_fastreid")

# After `family` exists: importing the models registers their builders on it.
from . import models, pretrain

family.backbone_spec = pretrain.backbone_spec

__all__ = ["family", "models"]
