"""The ResNet trunk shared by the fast-reid, reid-strong-baseline, AGW, AP-Net and ABD families.

Parameter names follow torchvision (``conv1``, ``bn1``, ``layer1.0.downsample.0`` ...), which is
what all of those upstreams kept. Options cover the variants they use: IBN-a in the first norm
of every block of layers 1-3, an SE layer per block, non-local blocks after the last blocks of a
stage (modules ``NL_1`` .. ``NL_4``), the last stage's stride, and the ImageNet ``fc``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .ibn import IBN
from .non_local import NonLocal
from .se import SELayer

#: blocks per stage of the standard depths
resnet_depths: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 ibn: bool = False, se: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = IBN(planes) if ibn else nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(planes) if se else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 (strided) - 1x1 bottleneck, with optional IBN-a and SE."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 ibn: bool = False, se: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = IBN(planes) if ibn else nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(planes * 4) if se else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet feature extractor returning the last stage's map ``[B, 512*expansion, H/16, W/16]``.

    Args:
        depth: 18, 34, 50, 101 or 152.
        last_stride: stride of layer4 (1 in ReID, keeping a 16x8 map at 256x128).
        ibn: IBN-a in layers 1-3.
        se: an SE layer (``se.fc.*``) in every block.
        non_local: how many non-local blocks follow the last blocks of each of the 4 stages;
            AGW uses ``(0, 2, 3, 0)``, and ``(0, 2, 9, 0)`` for ResNet-101.
        fc_classes: keep ImageNet's ``fc`` (some upstream checkpoints carry it; unused here).
        ceil_mode: ceil mode of the stem's max pooling.
        stem_relu: ReLU between the stem's ``bn1`` and its max pooling. reid-strong-baseline's
            and ReID-Survey's ResNets have it commented out, and their weights were trained so.
    """

    def __init__(
        self,
        depth: int = 50,
        last_stride: int = 1,
        ibn: bool = False,
        se: bool = False,
        non_local: Sequence[int] = (0, 0, 0, 0),
        fc_classes: int | None = None,
        ceil_mode: bool = False,
        stem_relu: bool = True,
    ) -> None:
        super().__init__()
        if depth not in resnet_depths:
            raise ValueError(f"ResNet depth must be one of {sorted(resnet_depths)}, got {depth}")
        block = BasicBlock if depth < 50 else Bottleneck
        layers = resnet_depths[depth]
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.stem_relu = stem_relu
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=ceil_mode)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, ibn, se)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, ibn, se)
        self.layer3 = self._make_layer(block, 256, layers[2], 2, ibn, se)
        self.layer4 = self._make_layer(block, 512, layers[3], last_stride, False, se)
        self.out_channels = 512 * block.expansion

        # Non-local blocks follow the last `n` blocks of a stage: stage i's block j is followed by
        # NL_{i+1}[k] when j is the k-th of those positions.
        self._nl_after: list[dict[int, int]] = []
        for stage, count in enumerate(non_local):
            positions = sorted(layers[stage] - 1 - i for i in range(count))
            self._nl_after.append({pos: k for k, pos in enumerate(positions)})
            if count:
                channels = [64, 128, 256, 512][stage] * block.expansion
                setattr(self, f"NL_{stage + 1}", nn.ModuleList(NonLocal(channels) for _ in range(count)))
        self.fc = nn.Linear(self.out_channels, fc_classes) if fc_classes else None
        self._init_weights()

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int,
                    ibn: bool, se: bool) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, ibn=ibn, se=se)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, ibn=ibn, se=se) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # after the convs: NonLocal zeroes its own output norm
            if isinstance(m, NonLocal):
                nn.init.zeros_(m.W[1].weight)
                nn.init.zeros_(m.W[1].bias)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """conv1, bn1, relu (unless ``stem_relu=False``), maxpool."""
        x = self.bn1(self.conv1(x))
        return self.maxpool(self.relu(x) if self.stem_relu else x)

    def forward_stage(self, x: torch.Tensor, stage: int) -> torch.Tensor:
        """Run stage ``stage`` (1-4), with its non-local blocks."""
        layer = getattr(self, f"layer{stage}")
        after = self._nl_after[stage - 1] if stage - 1 < len(self._nl_after) else {}
        nl = getattr(self, f"NL_{stage}", None)
        for j, block in enumerate(layer):
            x = block(x)
            if j in after:
                x = nl[after[j]](x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_stem(x)
        for stage in (1, 2, 3, 4):
            x = self.forward_stage(x, stage)
        return x
