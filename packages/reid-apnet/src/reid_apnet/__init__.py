"""reid_apnet: the apnet family of reid-zoo (AP-Net, the Attention Pyramid Network, models ``*_ap``)."""

from reid_core import Family

family = Family("apnet", package="reid-apnet", module="reid_apnet")

from .baseline import APNet, resnet50_ap  # noqa: E402  (registers the builders; needs `family`)
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec

__all__ = ["APNet", "family", "resnet50_ap"]
