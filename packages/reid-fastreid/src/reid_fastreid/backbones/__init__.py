"""The backbones fast-reid's models are built on.

ResNet and ResNeSt live here; MobileNetV3, OSNet and the timm-based backbones (DenseNet,
ConvNeXt, Inception) in their own modules, imported when a model that needs them is built.
"""

from .resnest import ResNeSt, build_resnest_backbone
from .resnet import build_resnet_backbone

__all__ = ["ResNeSt", "build_resnest_backbone", "build_resnet_backbone"]
