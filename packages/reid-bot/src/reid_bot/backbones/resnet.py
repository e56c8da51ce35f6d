"""reid-strong-baseline's ResNets, on the shared trunk of :mod:`reid_core.nn`.

Two upstream files define them. ``resnet.py`` (ResNet-18 .. 152) has no ReLU between the stem's
batch norm and its max pooling: the line is commented out upstream, and every published ``*_bot``
ResNet was trained that way. ``resnet_ibn_a.py`` (ResNet-50-IBN-a) keeps the ReLU, uses IBN-a in
layers 1-3 and carries ImageNet's ``fc`` in its state dict although the forward never uses it.
"""

from __future__ import annotations

import torch

from reid_core.nn import ResNet


class BoTResNet(ResNet):
    """:class:`reid_core.nn.ResNet` with an optional stem ReLU.

    Args:
        depth: 18, 34, 50, 101 or 152.
        last_stride: stride of layer4 (1 in every published model).
        stem_relu: apply ReLU after ``bn1``; ``False`` for ``resnet.py``, ``True`` for IBN-a.
        ibn: IBN-a in layers 1-3.
        fc_classes: keep an (unused) ImageNet classifier ``fc`` so its checkpoint keys load.
    """

    def __init__(self, depth: int = 50, last_stride: int = 1, stem_relu: bool = False,
                 ibn: bool = False, fc_classes: int | None = None) -> None:
        super().__init__(depth, last_stride=last_stride, ibn=ibn, fc_classes=fc_classes)
        self.stem_relu = stem_relu

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """conv1, bn1, ReLU only with ``stem_relu``, then max pooling."""
        x = self.bn1(self.conv1(x))
        if self.stem_relu:
            x = self.relu(x)
        return self.maxpool(x)
