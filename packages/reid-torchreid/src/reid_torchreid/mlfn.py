"""MLFN, the Multi-Level Factorisation Net (Chang et al., CVPR 2018), as deep-person-reid defines it.

Each of the 16 blocks is a ResNeXt-style bottleneck whose 32 groups are "factor modules"; a
small factor-selection network (``fsm``) looks at the block's input and weighs each group. The
selections of all blocks, concatenated (16 x 32 = 512 values), form a second descriptor: the
embedding is the mean of the projected pooled features (``fc_x``) and the projected selections
(``fc_s``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from reid_core import ReIDModel
from torch import nn

from .layers import init_weights

#: (out_channels, stride, fsm hidden sizes) of the 16 blocks, grouped by resolution level.
BLOCKS: tuple[tuple[int, int, tuple[int, int]], ...] = (
    *[(256, 1, (128, 64))] * 3,
    (512, 2, (256, 128)),
    *[(512, 1, (256, 128))] * 3,
    (1024, 2, (512, 128)),
    *[(1024, 1, (512, 128))] * 5,
    (2048, 2, (512, 128)),
    *[(2048, 1, (512, 128))] * 2,
)


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class MLFNBlock(nn.Module):
    """Residual block of ``groups`` factor modules gated by a factor selection module.

    Args:
        in_channels: input channels.
        out_channels: output channels; the grouped 3x3 runs at half of them.
        stride: stride of the grouped 3x3 (and of the projection shortcut).
        fsm_channels: hidden sizes of the selection network.
        groups: factor modules (groups of the 3x3), hence selection values per image.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, fsm_channels: tuple[int, int], groups: int = 32
    ) -> None:
        super().__init__()
        mid = out_channels // 2
        self.groups = groups
        self.fm_conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.fm_bn1 = nn.BatchNorm2d(mid)
        self.fm_conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.fm_bn2 = nn.BatchNorm2d(mid)
        self.fm_conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.fm_bn3 = nn.BatchNorm2d(out_channels)
        # Index layout (pool, conv, bn, relu, ...) is the checkpoint's: fsm.1, fsm.2, fsm.4, ...
        self.fsm = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            *_conv_bn_relu(in_channels, fsm_channels[0]),
            *_conv_bn_relu(fsm_channels[0], fsm_channels[1]),
            nn.Conv2d(fsm_channels[1], groups, 1),
            nn.BatchNorm2d(groups),
            nn.Sigmoid(),
        )
        self.downsample = None
        if in_channels != out_channels or stride > 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor, selection: torch.Tensor | None = None) -> torch.Tensor:
        """The block output. ``selection`` (``[B, groups, 1, 1]``, from ``self.fsm(x)``) is computed
        when not given; :class:`MLFN` passes it in because it also collects it.

        Returning only the feature map (rather than a pair) lets hooks such as Grad-CAM's attach to
        a block directly.
        """
        if selection is None:
            selection = self.fsm(x)
        y = F.relu(self.fm_bn1(self.fm_conv1(x)), inplace=True)
        y = F.relu(self.fm_bn2(self.fm_conv2(y)), inplace=True)
        # Group g of the 3x3 owns a contiguous run of channels; all of them get the g-th weight.
        y = y * selection.repeat_interleave(y.shape[1] // self.groups, dim=1)
        y = F.relu(self.fm_bn3(self.fm_conv3(y)), inplace=True)
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + y, inplace=True)


class MLFN(ReIDModel):
    """MLFN with a 1024-d embedding.

    Train mode returns ``(logits, features)``: identity logits ``[B, num_classes]`` and the
    embedding ``[B, 1024]`` (deep-person-reid's ``loss="triplet"`` output). Eval mode returns the
    embedding.

    Args:
        num_classes: identities of the training classifier.
        groups: factor modules per block.
        embed_dim: size of the embedding.
    """

    classifier_keys = ("classifier.*",)

    def __init__(self, num_classes: int, groups: int = 32, embed_dim: int = 1024) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks, cin = [], 64
        for cout, stride, fsm in BLOCKS:
            blocks.append(MLFNBlock(cin, cout, stride, fsm, groups))
            cin = cout
        self.feature = nn.ModuleList(blocks)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc_x = nn.Sequential(
            nn.Conv2d(cin, embed_dim, 1, bias=False), nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True)
        )
        self.fc_s = nn.Sequential(
            nn.Conv2d(groups * len(BLOCKS), embed_dim, 1, bias=False), nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(embed_dim, num_classes)
        init_weights(self)

    def forward_features(
        self, x: torch.Tensor, camids: torch.Tensor | None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Embedding ``[B, 1024]`` in eval mode, ``(logits, embedding)`` in train mode."""
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        selections = []
        for block in self.feature:
            s = block.fsm(x)
            selections.append(s)
            x = block(x, s)
        v = (self.fc_x(self.global_avgpool(x)) + self.fc_s(torch.cat(selections, dim=1))) * 0.5
        v = v.flatten(1)
        if not self.training:
            return v
        return self.classifier(v), v
