"""reid_lightmbn: the lightmbn family of reid-zoo (LightMBN's multi-branch networks).

Models: ``osnet_lmbn`` (upstream ``LMBN_n``, OSNet x1.0 trunk) and ``resnet50_lmbn`` (``LMBN_r``,
ResNet-50 trunk); both 384x128, seven 512-d parts, 3584-d eval features.
"""

from reid_core import Family

family = Family("lightmbn", package="reid-lightmbn", module="reid_lightmbn")

from . import models  # noqa: E402  (registers the builders on `family`)
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec
from .meta_arch import LMBN, PARTS  # noqa: E402

__all__ = ["LMBN", "PARTS", "family", "models"]
