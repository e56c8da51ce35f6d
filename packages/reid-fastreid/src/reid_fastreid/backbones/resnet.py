"""fast-reid's ResNet backbone (``build_resnet_backbone``): ResNet-50/101 with IBN, SE, non-local.

The trunk is :class:`reid_core.nn.ResNet`; only the stem's max pooling is fast-reid's own (see
:func:`build_resnet_backbone`).
"""

from __future__ import annotations

from torch import nn

from reid_core.nn import ResNet

#: Non-local blocks per stage when a recipe turns them on (fast-reid's ``WITH_NL``): after the last
#: two blocks of layer2 and the last three (ResNet-50) or nine (ResNet-101) of layer3.
NON_LOCAL_STAGES: dict[int, tuple[int, int, int, int]] = {
    50: (0, 2, 3, 0),
    101: (0, 2, 9, 0),
}


def build_resnet_backbone(
    depth: int = 50,
    *,
    ibn: bool = False,
    se: bool = False,
    non_local: bool = False,
    last_stride: int = 1,
) -> ResNet:
    """A ResNet trunk as fast-reid builds it; returns the last stage's map ``[B, 2048, H/16, W/16]``.

    Args:
        depth: 50 or 101.
        ibn: IBN-a in the first norm of every block of layers 1-3.
        se: a squeeze-and-excitation layer (``se.fc.0``/``se.fc.2``) in every block.
        non_local: non-local blocks in layers 2 and 3 (AGW and SBS recipes).
        last_stride: stride of layer4 (1 in every fast-reid recipe).
    """
    if depth not in NON_LOCAL_STAGES:
        raise ValueError(f"fast-reid ResNet depth must be one of {sorted(NON_LOCAL_STAGES)}, got {depth}")
    backbone = ResNet(
        depth,
        last_stride=last_stride,
        ibn=ibn,
        se=se,
        non_local=NON_LOCAL_STAGES[depth] if non_local else (0, 0, 0, 0),
    )
    # fast-reid pools the stem without padding and rounds up; the window positions differ from
    # torchvision's padded pooling, and the weights were trained with fast-reid's.
    backbone.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)
    return backbone
