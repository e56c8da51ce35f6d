"""reid_clipreid: the clipreid family of reid-zoo (CLIP-ReID, Li et al., AAAI 2023).

Models: ``vit_b16_clipreid`` (CLIP ViT-B/16), ``vit_b16_sie_olp_clipreid`` (camera embedding,
overlapping patches; camera-aware) and ``rn50_clipreid`` (CLIP ResNet-50). Training runs in two
stages (prompt learning, then image-encoder fine-tuning): see :func:`train_two_stages`.
"""

from reid_core import Family

family = Family("clipreid", package="reid-clipreid", module="reid_clipreid")

from . import models  # noqa: E402  (registers the builders on `family`)
from .clip.weights import load_clip_weights  # noqa: E402
from .meta_arch import CLIPReID  # noqa: E402
from .training import train_two_stages  # noqa: E402

__all__ = ["CLIPReID", "family", "load_clip_weights", "models", "train_two_stages"]
