"""LightMBN: one trunk, three branches (global, part, channel), seven BN-necked 512-d features.

``LMBN`` holds what both upstream variants share; ``lmbn_n`` (OSNet trunk) and ``lmbn_r``
(ResNet-50 trunk) differ in the trunk, the widths and two pooling choices, given to it by
:func:`build_lmbn_n` and :func:`build_lmbn_r`.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from reid_core import ReIDModel
from torch import nn
from torchvision.models.resnet import Bottleneck, resnet50

from .osnet import Conv1x1, OSBlock, stem_and_stage2, transition

#: Size LightMBN trains and tests at (lmbn_config.yaml: height 384, width 128).
INPUT_SIZE = (384, 128)
#: Parts of the eval output, in upstream's order along its last axis.
PARTS = ("global", "global_drop", "part_global", "part_top", "part_bottom", "channel_0", "channel_1")


class BNNeck3(nn.Module):
    """1x1 reduction conv, then BatchNorm1d and a bias-free classifier (upstream ``BNNeck3``)."""

    def __init__(self, in_ch: int, num_classes: int, feats: int) -> None:
        super().__init__()
        self.reduction = nn.Conv2d(in_ch, feats, 1, bias=False)
        self.bn = _neck_bn(feats)
        self.classifier = nn.Linear(feats, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(after_neck, before_neck)`` of a pooled map ``[B, C, 1, 1]``."""
        before = self.reduction(x).flatten(1)
        return self.bn(before), before


class BNNeck(nn.Module):
    """BatchNorm1d and a bias-free classifier, no reduction (upstream ``BNNeck``)."""

    def __init__(self, feats: int, num_classes: int) -> None:
        super().__init__()
        self.bn = _neck_bn(feats)
        self.classifier = nn.Linear(feats, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        before = x.flatten(1)
        return self.bn(before), before


def _neck_bn(feats: int) -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(feats)
    bn.bias.requires_grad_(False)  # upstream freezes the neck's shift (it is still saved)
    return bn


class BatchDropTop(nn.Module):
    """Training-only erasure of the ``ratio`` rows of a map with the strongest activations.

    A row's strength is the largest, over its columns, of the L2-normalized per-position energy
    (sum of squares over channels). Eval mode passes the map through.
    """

    def __init__(self, ratio: float = 0.33) -> None:
        super().__init__()
        self.ratio = ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        b, _, h, w = x.shape
        rows = round(self.ratio * h)
        if rows == 0:
            return x
        energy = F.normalize(x.detach().pow(2).sum(1).view(b, h * w), dim=1).view(b, h, w)
        strongest = energy.amax(2).argsort(1)[:, -rows:]
        keep = torch.ones(b, h, device=x.device, dtype=x.dtype).scatter_(1, strongest, 0.0)
        return x * keep[:, None, :, None]


class BatchFeatureErase(nn.Module):
    """Upstream ``BatchFeatureErase_Top``: one more block, then (training only) top-row erasure.

    Returns ``(erased, features)``; in eval mode both are the block's output.
    """

    def __init__(self, block: nn.Module, ratio: float = 0.33) -> None:
        super().__init__()
        self.drop_batch_bottleneck = block
        self.drop_batch_drop_top = BatchDropTop(ratio)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.drop_batch_bottleneck(x)
        return self.drop_batch_drop_top(features), features


class LMBN(ReIDModel):
    """LightMBN's multi-branch head on a trunk cut in two (``backone`` and three branch copies).

    Eval mode returns upstream's ``[B, 512, 7]`` stack of the seven after-neck features
    (see :data:`PARTS`), flattened channel-major to ``[B, 3584]`` (index ``c * 7 + part``), as
    LightMBN's test engine flattens it. With ``part_norm=True`` each of the seven parts is
    L2-normalized first, as the engine does before it ranks (it also adds the features of the
    mirrored image first: use ``flip=True`` when extracting). Train mode returns
    ``{"logits": [7 x [B, num_classes]], "features": [3 x [B, 512]]}``: logits of every part,
    and the before-neck features of the global, global-drop and part-global parts (upstream's
    triplet inputs).

    Args:
        backone: the shared trunk (upstream's attribute name, typo included, for its keys).
        branch: the trunk's remaining stages; deep-copied into the three branches.
        branch_channels: channels the branches output.
        drop_block: the extra block of the batch-feature-erasing branch.
        num_classes: identities of the seven classifiers.
        feats: width of each part feature (512 in lmbn_config.yaml).
        global_pool: ``"avg"`` or ``"max"``, pooling of the global feature.
        channel_pool: ``"avg"`` or ``"max"``, pooling of the channel branch.
        drop_name: attribute name of the reduction of the erased feature (``reduction_4`` in
            lmbn_n, ``reduction_drop`` in lmbn_r).
        part_norm: L2-normalize each part in the eval output (see above).
    """

    unused_checkpoint_keys = ()
    classifier_keys = ("*.classifier.weight",)

    def __init__(
        self,
        backone: nn.Sequential,
        branch: nn.Sequential,
        branch_channels: int,
        drop_block: nn.Module,
        num_classes: int,
        *,
        feats: int = 512,
        global_pool: str = "avg",
        channel_pool: str = "avg",
        drop_name: str = "reduction_4",
        part_norm: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.part_norm = part_norm
        self.backone = backone
        self.global_branch = branch
        self.partial_branch = copy.deepcopy(branch)
        self.channel_branch = copy.deepcopy(branch)
        self.chs = branch_channels // 2
        self.global_pool = _pool(global_pool)
        self.channel_pool = _pool(channel_pool)
        self.reduction_0 = BNNeck3(branch_channels, num_classes, feats)
        self.reduction_1 = BNNeck3(branch_channels, num_classes, feats)
        self.reduction_2 = BNNeck3(branch_channels, num_classes, feats)
        self.reduction_3 = BNNeck3(branch_channels, num_classes, feats)
        self._drop_name = drop_name
        self.add_module(drop_name, BNNeck3(branch_channels, num_classes, feats))
        self.shared = nn.Sequential(
            nn.Conv2d(self.chs, feats, 1, bias=False), nn.BatchNorm2d(feats), nn.ReLU(inplace=True)
        )
        self.reduction_ch_0 = BNNeck(feats, num_classes)
        self.reduction_ch_1 = BNNeck(feats, num_classes)
        self.batch_drop_block = BatchFeatureErase(drop_block)

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        x = self.backone(x)
        glo = self.global_branch(x)
        par = self.partial_branch(x)
        cha = self.channel_branch(x)
        glo_drop, glo = self.batch_drop_block(glo)
        glo_drop = F.adaptive_max_pool2d(glo_drop, 1)
        glo = self.global_pool(glo)
        g_par = F.adaptive_max_pool2d(par, 1)
        p_par = F.adaptive_avg_pool2d(par, (2, 1))
        cha = self.channel_pool(cha)
        outs = [
            self.reduction_0(glo),
            getattr(self, self._drop_name)(glo_drop),
            self.reduction_1(g_par),
            self.reduction_2(p_par[:, :, 0:1]),
            self.reduction_3(p_par[:, :, 1:2]),
            self.reduction_ch_0(self.shared(cha[:, : self.chs])),
            self.reduction_ch_1(self.shared(cha[:, self.chs :])),
        ]
        if not self.training:
            parts = torch.stack([after for after, _ in outs], dim=2)
            if self.part_norm:
                parts = F.normalize(parts, dim=1)
            return parts.flatten(1)
        heads = [self.reduction_0, getattr(self, self._drop_name), self.reduction_1, self.reduction_2,
                 self.reduction_3, self.reduction_ch_0, self.reduction_ch_1]
        logits = [head.classifier(after) for head, (after, _) in zip(heads, outs, strict=True)]
        return {"logits": logits, "features": [outs[0][1], outs[1][1], outs[2][1]]}

    def convert_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Strip the ``model.`` prefix of LightMBN's saved files (its ``Model`` wrapper's attribute)."""
        sd = dict(state_dict)
        if sd and all(k.startswith("model.") for k in sd):
            sd = {k[len("model.") :]: v for k, v in sd.items()}
        return sd


def _pool(kind: str) -> nn.Module:
    if kind == "avg":
        return nn.AdaptiveAvgPool2d(1)
    if kind == "max":
        return nn.AdaptiveMaxPool2d(1)
    raise ValueError(f"pooling must be 'avg' or 'max', got {kind!r}")


def build_lmbn_n(num_classes: int, **kwargs: Any) -> LMBN:
    """``lmbn_n``: OSNet x1.0 cut after conv3's first block; global and channel features avg-pooled."""
    backone = nn.Sequential(*stem_and_stage2(), OSBlock(256, 384))
    # Upstream slices OSNet's conv3 (``conv3[1:]``), which keeps the children's names "1" and "2".
    conv3_rest = nn.Sequential(OrderedDict([("1", OSBlock(384, 384)), ("2", transition(384))]))
    branch = nn.Sequential(conv3_rest, nn.Sequential(OSBlock(384, 512), OSBlock(512, 512)), Conv1x1(512, 512))
    return LMBN(backone, branch, 512, OSBlock(512, 512), num_classes, global_pool="avg", channel_pool="avg",
                drop_name="reduction_4", **kwargs)


def build_lmbn_r(num_classes: int, **kwargs: Any) -> LMBN:
    """``lmbn_r``: torchvision ResNet-50 cut after layer3's first block; the part and channel
    branches run layer4 without its stride; global and channel features max-pooled.
    """
    net = resnet50(weights=None)
    backone = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3[0])
    layer3_rest = nn.Sequential(*net.layer3[1:])
    global_branch = nn.Sequential(layer3_rest, net.layer4)
    stride1 = nn.Sequential(
        Bottleneck(1024, 512, downsample=nn.Sequential(nn.Conv2d(1024, 2048, 1, bias=False), nn.BatchNorm2d(2048))),
        Bottleneck(2048, 512),
        Bottleneck(2048, 512),
    )
    model = LMBN(backone, global_branch, 2048, Bottleneck(2048, 512), num_classes, global_pool="max",
                 channel_pool="max", drop_name="reduction_drop", **kwargs)
    # The part and channel branches keep layer4's weights but not its stride.
    for name in ("partial_branch", "channel_branch"):
        branch = getattr(model, name)
        branch[1] = copy.deepcopy(stride1)
    return model
