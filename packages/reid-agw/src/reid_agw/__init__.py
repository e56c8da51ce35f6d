"""reid_agw: the agw family of reid-zoo (ReID-Survey's AGW baseline, models ``*_agw``)."""

from reid_core import Family

family = Family("agw", package="reid-agw", module="reid_agw")

from .baseline import AGWBaseline, resnet50_agw  # noqa: E402  (registers the builders; needs `family`)
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec

__all__ = ["AGWBaseline", "family", "resnet50_agw"]
