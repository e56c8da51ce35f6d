"""reid_transreid: the transreid family of reid-zoo (TransReID's vision transformers).

Models: ``vit_base_transreid`` (ViT-B/16 baseline), ``vit_transreid`` and ``deit_transreid``
(overlapping patches, camera side information, jigsaw patch module; camera-aware).
"""

from reid_core import Family

family = Family("transreid", package="reid-transreid", module="reid_transreid")

from . import models  # noqa: E402  (registers the builders on `family`)
from .backbones.vit import reshape_tokens  # noqa: E402
from .meta_arch import TransReID, TransReIDJPM  # noqa: E402
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec

__all__ = ["TransReID", "TransReIDJPM", "family", "models", "reshape_tokens"]
