"""AGW (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021).

The ReID-Survey baseline: a ResNet-50 with non-local blocks after the last two blocks of layer2 and
the last three of layer3, last stride 1, learnable GeM pooling and a BNNeck (a bias-frozen
BatchNorm1d between the pooled feature and a bias-free classifier). The blocks themselves are the
shared ones of :mod:`reid_core.nn`, whose parameter names are those of ReID-Survey's checkpoints.
"""

from __future__ import annotations

import torch
from reid_core import ReIDModel
from reid_core.nn import GeneralizedMeanPooling, ResNet, bnneck, id_classifier

from . import family

AGW_PAPER = "https://arxiv.org/abs/2001.04193"


class AGWBaseline(ReIDModel):
    """ReID-Survey's ``Baseline`` with the ``resnet50_nl`` trunk and GeM pooling.

    Args:
        num_classes: identities of the training set (classifier rows).
        last_stride: stride of layer4; 1 in every published AGW model.
        non_local: non-local blocks after the last blocks of each of the four stages.
    """

    classifier_keys = ("classifier.*",)

    def __init__(self, num_classes: int, last_stride: int = 1,
                 non_local: tuple[int, int, int, int] = (0, 2, 3, 0)) -> None:
        super().__init__()
        # ReID-Survey's ResNetNL has no ReLU after the stem's BN (commented out upstream).
        self.base = ResNet(50, last_stride=last_stride, non_local=non_local, stem_relu=False)
        self.global_pool = GeneralizedMeanPooling(p=3.0, learnable=True)
        self.in_planes = self.base.out_channels
        self.bottleneck = bnneck(self.in_planes)
        self.classifier = id_classifier(self.in_planes, num_classes)

    def forward_features(
        self, x: torch.Tensor, camids: torch.Tensor | None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Eval: the BNNeck feature ``[B, 2048]``.

        Train: ``(cls_score [B, num_classes], global_feat [B, 2048])`` as upstream: the logits of
        the classifier after the BNNeck (label-smoothed cross entropy) and the pooled feature
        before it (AGW's weighted regularized triplet).
        """
        x = self.base(x)
        global_feat = self.global_pool(x).flatten(1)
        feat = self.bottleneck(global_feat)
        if not self.training:
            return feat
        return self.classifier(feat), global_feat


@family.register(
    feature_dim=2048,
    classifier_key="classifier.weight",
    cam_layer="base.layer4",
    paper=AGW_PAPER,
    notes="The stem has no ReLU after bn1, as in ReID-Survey's ResNetNL.",
)
def resnet50_agw(num_classes: int = 751, camera_num: int = 0, **kwargs) -> AGWBaseline:
    """AGW: ResNet-50 with non-local blocks (layers 2 and 3), GeM pooling and a BNNeck, last stride 1."""
    return AGWBaseline(num_classes, **kwargs)
