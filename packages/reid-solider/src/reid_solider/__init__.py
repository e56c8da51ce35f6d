"""reid_solider: the solider family of reid-zoo (SOLIDER-REID's Swin transformers).

Models: ``swin_tiny_solider``, ``swin_small_solider`` (768-d) and ``swin_base_solider`` (1024-d),
384x128, with SOLIDER's semantic controller at s = 0.2.
"""

from reid_core import Family

family = Family("solider", package="reid-solider", module="reid_solider")

from . import models  # noqa: E402  (registers the builders on `family`)
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec
from .backbones.swin import SoliderSwin  # noqa: E402
from .meta_arch import SoliderReID  # noqa: E402

__all__ = ["SoliderReID", "SoliderSwin", "family", "models"]
