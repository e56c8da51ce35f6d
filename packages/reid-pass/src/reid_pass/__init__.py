"""reid_pass: the pass family of reid-zoo (PASS-reID: part-aware self-supervised ViTs).

Models: ``vit_small_pass`` and ``vit_base_pass`` (256x128), ``vit_small_384_pass`` and
``vit_base_384_pass`` (384x128): ViT-S/16 and ViT-B/16 with three part tokens.
"""

from reid_core import Family

family = Family("pass", package="reid-pass", module="reid_pass")

from . import models  # noqa: E402  (registers the builders on `family`)
from .backbones.vit import PASSViT  # noqa: E402
from .meta_arch import PASS  # noqa: E402
from .pretrained import load_backbone_weights, pretrained_records  # noqa: E402

__all__ = ["PASS", "PASSViT", "family", "load_backbone_weights", "models", "pretrained_records"]
