"""reid_transreid_ssl: the transreid-ssl family of reid-zoo (TransReID-SSL's LUPerson-pretrained ViTs).

Models: ``vit_small_transreid_ssl`` (ViT-S/16), ``vit_small_ics_transreid_ssl`` (ViT-S/16 with the
IBN-based convolution stem) and ``vit_base_ics_transreid_ssl`` (ViT-B/16 with the stem, 384x128).
"""

from reid_core import Family

family = Family("transreid-ssl", package="reid-transreid-ssl", module="reid_transreid_ssl")

from . import models  # noqa: E402  (registers the builders on `family`)
from .backbones.vit import ICSPatchEmbed, SSLViT  # noqa: E402
from .meta_arch import TransReIDSSL  # noqa: E402
from .pretrained import load_backbone_weights, pretrained_records  # noqa: E402

__all__ = ["ICSPatchEmbed", "SSLViT", "TransReIDSSL", "family", "load_backbone_weights", "models", "pretrained_records"]
