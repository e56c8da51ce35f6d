"""reid_bot: reid-strong-baseline's models (Bag of Tricks), the ``*_bot`` family of reid-zoo."""

from reid_core import Family

family = Family("bot", package="reid-bot", module="reid_bot")

from .baseline import Baseline  # noqa: E402  (the modules below register builders on `family`)
from .models import (  # noqa: E402
    resnet50_bot,
    resnet50_ibn_a_bot,
    se_resnet50_bot,
    se_resnext50_bot,
    senet154_bot,
)
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec

__all__ = [
    "Baseline",
    "family",
    "resnet50_bot",
    "resnet50_ibn_a_bot",
    "se_resnet50_bot",
    "se_resnext50_bot",
    "senet154_bot",
]
