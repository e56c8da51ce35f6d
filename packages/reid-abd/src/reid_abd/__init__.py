"""reid_abd: the abd family of reid-zoo (ABD-Net, Attentive but Diverse, models ``*_abd``).

The orthogonality regularizers of its training recipe are in :mod:`reid_abd.losses`.
"""

from reid_core import Family

family = Family("abd", package="reid-abd", module="reid_abd")

from .losses import of_penalty, ow_penalty  # noqa: E402
from .models import SEED_CONFIG, densenet121_abd, resnet50_abd  # noqa: E402  (registers the builders)
from .network import ABDNet  # noqa: E402
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec

__all__ = ["SEED_CONFIG", "ABDNet", "densenet121_abd", "family", "of_penalty", "ow_penalty", "resnet50_abd"]
