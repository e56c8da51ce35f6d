"""SENet, SE-ResNet and SE-ResNeXt (Hu et al., CVPR 2018) as reid-strong-baseline builds them.

reid-strong-baseline took these from Cadene's ``pretrainedmodels``, so the parameter names are
that package's: a ``layer0`` stem, then ``layer1`` .. ``layer4`` of bottlenecks whose SE block is
``se_module`` (``fc1``/``fc2`` 1x1 convolutions with bias, :class:`reid_core.nn.SEModule`).

The three variants differ only inside the bottleneck and in the stem:

- ``se_resnet``: conv1 and conv2 are ``planes`` wide, and the block strides in its first 1x1
  convolution (the Caffe model's choice); 7x7 stem with 64 channels; 1x1 shortcut projections.
- ``se_resnext`` (32x4d): conv1 and conv2 are 32 groups of 4 per 64 planes, and the block strides
  in the grouped 3x3; stem and projections as ``se_resnet``.
- ``senet`` (SENet-154): conv1 is ``2 * planes`` and the 64-group 3x3 ``4 * planes`` wide, striding
  in the 3x3; the stem is three 3x3 convolutions ending at 128 channels, and the shortcut
  projections of layers 2-4 are 3x3.

The stem's max pooling has no padding and ``ceil_mode=True`` (kept from the Caffe weights). The
ImageNet head (``avg_pool``, ``dropout``, ``last_linear``) is not built: reid-strong-baseline
never runs it, and it has no state in the published checkpoints.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from reid_core.nn import SEModule

VARIANTS = ("se_resnet", "se_resnext", "senet")


class SENetBlock(nn.Module):
    """A squeeze-and-excitation bottleneck of one of the :data:`VARIANTS`.

    Args:
        inplanes: input channels.
        planes: the stage's base width; the block outputs ``4 * planes`` channels.
        variant: ``"se_resnet"``, ``"se_resnext"`` or ``"senet"`` (see the module docs).
        groups: groups of the 3x3 convolution.
        reduction: channel reduction of the SE module.
        stride: the block's spatial stride.
        downsample: projection of the shortcut, when shape or stride change.
        base_width: per-group width of SE-ResNeXt (4 in ``32x4d``).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, variant: str, groups: int, reduction: int,
                 stride: int = 1, downsample: nn.Module | None = None, base_width: int = 4) -> None:
        super().__init__()
        if variant == "se_resnet":
            width1 = width2 = planes
        elif variant == "se_resnext":
            width1 = width2 = (planes * base_width // 64) * groups
        elif variant == "senet":
            width1, width2 = planes * 2, planes * 4
        else:
            raise ValueError(f"SENet variant must be one of {VARIANTS}, got {variant!r}")
        # SE-ResNet follows the Caffe model and strides in the first 1x1; the others in the 3x3.
        stride1, stride2 = (stride, 1) if variant == "se_resnet" else (1, stride)
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width1, 1, stride=stride1, bias=False)
        self.bn1 = nn.BatchNorm2d(width1)
        self.conv2 = nn.Conv2d(width1, width2, 3, stride=stride2, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width2)
        self.conv3 = nn.Conv2d(width2, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.se_module = SEModule(out, reduction=reduction)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se_module(self.bn3(self.conv3(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class SENet(nn.Module):
    """The SENet trunk, returning the layer4 map ``[B, 2048, H/16, W/16]`` at ``last_stride=1``.

    Args:
        variant: block type, one of :data:`VARIANTS`.
        layers: blocks in each of the four stages.
        groups: groups of every block's 3x3 convolution (1, 32 or 64).
        reduction: SE reduction (16 in every model).
        inplanes: stem output channels (128 for SENet-154, else 64).
        input_3x3: three 3x3 convolutions in the stem instead of one 7x7.
        downsample_kernel_size: kernel of the shortcut projection in layers 2-4 (3 for SENet-154).
        last_stride: stride of layer4 (1 in ReID).
    """

    def __init__(self, variant: str, layers: Sequence[int], groups: int, reduction: int = 16,
                 inplanes: int = 64, input_3x3: bool = False, downsample_kernel_size: int = 1,
                 last_stride: int = 1) -> None:
        super().__init__()
        self.variant = variant
        self.groups = groups
        self.reduction = reduction
        self.inplanes = inplanes
        self.layer0 = nn.Sequential(self._stem(inplanes, input_3x3))
        self.layer1 = self._make_layer(64, layers[0], stride=1, downsample_kernel_size=1)
        self.layer2 = self._make_layer(128, layers[1], stride=2, downsample_kernel_size=downsample_kernel_size)
        self.layer3 = self._make_layer(256, layers[2], stride=2, downsample_kernel_size=downsample_kernel_size)
        self.layer4 = self._make_layer(512, layers[3], stride=last_stride,
                                       downsample_kernel_size=downsample_kernel_size)
        self.out_channels = 512 * SENetBlock.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.bias is None:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stem(channels: int, input_3x3: bool) -> OrderedDict[str, nn.Module]:
        if input_3x3:
            convs = [(3, 64, 2), (64, 64, 1), (64, channels, 1)]
            kernel, padding = 3, 1
        else:
            convs = [(3, channels, 2)]
            kernel, padding = 7, 3
        stem: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (cin, cout, stride) in enumerate(convs, start=1):
            stem[f"conv{i}"] = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
            stem[f"bn{i}"] = nn.BatchNorm2d(cout)
            stem[f"relu{i}"] = nn.ReLU(inplace=True)
        stem["pool"] = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        return stem

    def _make_layer(self, planes: int, blocks: int, stride: int, downsample_kernel_size: int) -> nn.Sequential:
        out = planes * SENetBlock.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out, downsample_kernel_size, stride=stride,
                          padding=downsample_kernel_size // 2, bias=False),
                nn.BatchNorm2d(out),
            )
        kw = {"variant": self.variant, "groups": self.groups, "reduction": self.reduction}
        layers = [SENetBlock(self.inplanes, planes, stride=stride, downsample=downsample, **kw)]
        self.inplanes = out
        layers += [SENetBlock(out, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer0(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return x


def senet154(last_stride: int = 1) -> SENet:
    """SENet-154: 64-group SE bottlenecks, (3, 8, 36, 3) blocks, 3x3 stem and 3x3 downsampling."""
    return SENet("senet", (3, 8, 36, 3), groups=64, inplanes=128, input_3x3=True,
                 downsample_kernel_size=3, last_stride=last_stride)


def se_resnet(layers: Sequence[int], last_stride: int = 1) -> SENet:
    """SE-ResNet-50/101/152 with the given blocks per stage."""
    return SENet("se_resnet", layers, groups=1, last_stride=last_stride)


def se_resnext(layers: Sequence[int], last_stride: int = 1) -> SENet:
    """SE-ResNeXt-50/101 (32x4d) with the given blocks per stage."""
    return SENet("se_resnext", layers, groups=32, last_stride=last_stride)
