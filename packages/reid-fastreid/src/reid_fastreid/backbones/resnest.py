"""ResNeSt (Zhang et al., "ResNeSt: Split-Attention Networks", 2020) as fast-reid builds it.

fast-reid's ``build_resnest_backbone`` makes a ResNeSt-50d: a deep 3x3 stem (32-32-64 channels),
split-attention 3x3 convolutions with radix 2, strided blocks that average-pool before the
split-attention convolution ("avd") and average-pool shortcuts ("avg_down"). It takes no IBN
switch: ``*_S50_ibn`` models get this same network. Parameter names are those of the upstream
checkpoints (``conv2.conv``, ``conv2.bn0``, ``conv2.fc1`` ..., ``downsample.1``/``downsample.2``).

Two things changed between fast-reid's code eras (see ``docs/families/fastreid.md``):

* layer4 at last stride 1: today it is dilated by 2; the code of the v0.1.1 release files
  (2020-07-30) kept dilation 1 (``layer4_dilation``);
* non-local blocks: that code added them after the last 2 blocks of layer2 and the last 3 of
  layer3 (``NL_2``, ``NL_3``) for the AGW and SBS recipes; today's builder adds none
  (``non_local``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reid_core.nn import NonLocal

#: blocks per stage and stem width of the depths fast-reid offers
RESNEST_DEPTHS: dict[int, tuple[tuple[int, int, int, int], int]] = {
    50: ((3, 4, 6, 3), 32),
    101: ((3, 4, 23, 3), 64),
}

#: Non-local blocks after the last blocks of each stage when ``non_local=True`` (the 2020 code,
#: every depth).
NON_LOCAL_STAGES = (0, 2, 3, 0)


class SplitAttentionConv(nn.Module):
    """A 3x3 convolution producing ``radix`` feature groups, mixed by channel-wise attention.

    The attention comes from the pooled sum of the groups through a two-layer bottleneck
    (``fc1``, ``bn1``, ``fc2``) and a softmax across the groups.
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1, dilation: int = 1,
                 radix: int = 2, reduction: int = 4) -> None:
        super().__init__()
        self.radix = radix
        self.channels = channels
        attention_channels = max(in_channels * radix // reduction, 32)
        self.conv = nn.Conv2d(in_channels, channels * radix, 3, stride=stride, padding=dilation,
                              dilation=dilation, groups=radix, bias=False)
        self.bn0 = nn.BatchNorm2d(channels * radix)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, attention_channels, 1)
        self.bn1 = nn.BatchNorm2d(attention_channels)
        self.fc2 = nn.Conv2d(attention_channels, channels * radix, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn0(self.conv(x)))
        b, _, h, w = x.shape
        groups = x.view(b, self.radix, self.channels, h, w)
        context = F.adaptive_avg_pool2d(groups.sum(dim=1), 1)
        logits = self.fc2(self.relu(self.bn1(self.fc1(context))))
        weights = logits.view(b, self.radix, self.channels, 1, 1).softmax(dim=1)
        return (groups * weights).sum(dim=1)


class ResNeStBottleneck(nn.Module):
    """1x1 - split-attention 3x3 - 1x1 bottleneck; strided blocks pool (3x3 average) before conv3."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, avd: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        # The stride moves from the convolution into an average pooling after it ("avd").
        self.avd_layer = nn.AvgPool2d(3, stride, padding=1) if avd else None
        self.conv2 = SplitAttentionConv(planes, planes, stride=1 if avd else stride, dilation=dilation)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        if self.avd_layer is not None:
            out = self.avd_layer(out)
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNeSt(nn.Module):
    """ResNeSt-d trunk returning the last stage's map ``[B, 2048, H/16, W/16]`` at last stride 1.

    Args:
        depth: 50 or 101.
        last_stride: 1 keeps layer4 at stride 1 (fast-reid's choice); 2 is the ImageNet network.
        layer4_dilation: dilation of layer4 at last stride 1: 2 (fast-reid today) or 1 (the
            code of the v0.1.1 release files).
        non_local: non-local blocks ``NL_2``/``NL_3`` after the last 2 blocks of layer2 and the
            last 3 of layer3 (the v0.1.1 code's AGW and SBS recipes).
    """

    def __init__(self, depth: int = 50, last_stride: int = 1, layer4_dilation: int = 2,
                 non_local: bool = False) -> None:
        super().__init__()
        if depth not in RESNEST_DEPTHS:
            raise ValueError(f"ResNeSt depth must be one of {sorted(RESNEST_DEPTHS)}, got {depth}")
        if last_stride not in (1, 2):
            raise ValueError(f"ResNeSt last_stride must be 1 or 2, got {last_stride}")
        if layer4_dilation not in (1, 2):
            raise ValueError(f"ResNeSt layer4_dilation must be 1 or 2, got {layer4_dilation}")
        layers, stem = RESNEST_DEPTHS[depth]
        self.inplanes = stem * 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, stem, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem, stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem, stem * 2, 3, padding=1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0], stride=1, pool_first_block=False)
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        if last_stride == 1:
            self.layer4 = self._make_layer(512, layers[3], stride=1, dilation=layer4_dilation)
        else:
            self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.out_channels = 512 * ResNeStBottleneck.expansion
        # Stage i's block j is followed by NL_{i+1}[k] when j is the k-th of its last blocks.
        self._nl_after: list[dict[int, int]] = []
        for stage, count in enumerate(NON_LOCAL_STAGES if non_local else (0, 0, 0, 0)):
            positions = sorted(layers[stage] - 1 - i for i in range(count))
            self._nl_after.append({pos: k for k, pos in enumerate(positions)})
            if count:
                channels = (64, 128, 256, 512)[stage] * ResNeStBottleneck.expansion
                setattr(self, f"NL_{stage + 1}", nn.ModuleList(NonLocal(channels) for _ in range(count)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        for m in self.modules():  # after the convs: a non-local block starts as an identity
            if isinstance(m, NonLocal):
                nn.init.zeros_(m.W[1].weight)
                nn.init.zeros_(m.W[1].bias)

    def _make_layer(self, planes: int, blocks: int, stride: int, dilation: int = 1,
                    pool_first_block: bool = True) -> nn.Sequential:
        out_planes = planes * ResNeStBottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out_planes:
            # ResNet-D shortcut: average-pool to the new resolution, then a stride-1 projection.
            # Index 0 carries no weights; the projection and its norm are downsample.1 and .2.
            pool_size = stride if dilation == 1 else 1
            downsample = nn.Sequential(
                nn.AvgPool2d(pool_size, stride=pool_size, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(self.inplanes, out_planes, 1, bias=False),
                nn.BatchNorm2d(out_planes),
            )
        # The first block of a dilated stage keeps dilation 1; the upstream does the same.
        first = ResNeStBottleneck(self.inplanes, planes, stride, dilation=1, downsample=downsample,
                                  avd=stride > 1 or pool_first_block)
        self.inplanes = out_planes
        rest = [ResNeStBottleneck(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(first, *rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage, after in enumerate(self._nl_after, start=1):
            blocks = getattr(self, f"layer{stage}")
            if not after:
                x = blocks(x)
                continue
            non_local = getattr(self, f"NL_{stage}")
            for j, block in enumerate(blocks):
                x = block(x)
                if j in after:
                    x = non_local[after[j]](x)
        return x


def build_resnest_backbone(depth: int = 50, *, last_stride: int = 1, layer4_dilation: int = 2,
                           non_local: bool = False) -> ResNeSt:
    """fast-reid's ``build_resnest_backbone``: ResNeSt-50d (``S50``) by default (see :class:`ResNeSt`)."""
    return ResNeSt(depth, last_stride=last_stride, layer4_dilation=layer4_dilation, non_local=non_local)
