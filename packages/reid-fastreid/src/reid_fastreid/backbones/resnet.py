"""fast-reid's ResNet backbone (``build_resnet_backbone``): ResNet-50/101 with IBN, SE, non-local.

The trunk is :class:`reid_core.nn.ResNet`; only the stem's max pooling is fast-reid's own, and
it changed between fast-reid's code eras (see :data:`STEM_POOLS`).
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from reid_core.nn import ResNet

#: Non-local blocks per stage when a recipe turns them on (fast-reid's ``WITH_NL``): after the last
#: two blocks of layer2 and the last three (ResNet-50) or nine (ResNet-101) of layer3.
NON_LOCAL_STAGES: dict[int, tuple[int, int, int, int]] = {
    50: (0, 2, 3, 0),
    101: (0, 2, 9, 0),
}


StemPool = Literal["ceil", "padded"]

#: The stem's 3x3/2 max pooling. ``ceil``: no padding, rounding up (fast-reid since 2020-08-14);
#: ``padded``: padding 1, rounding down, as torchvision (fast-reid before, the v0.1.1 release files).
STEM_POOLS: dict[str, dict[str, int | bool]] = {
    "ceil": {"padding": 0, "ceil_mode": True},
    "padded": {"padding": 1, "ceil_mode": False},
}


def build_resnet_backbone(
    depth: int = 50,
    *,
    ibn: bool = False,
    se: bool = False,
    non_local: bool = False,
    last_stride: int = 1,
    stem_pool: StemPool = "ceil",
) -> ResNet:
    """A ResNet trunk as fast-reid builds it; returns the last stage's map ``[B, 2048, H/16, W/16]``.

    Args:
        depth: 50 or 101.
        ibn: IBN-a in the first norm of every block of layers 1-3.
        se: a squeeze-and-excitation layer (``se.fc.0``/``se.fc.2``) in every block.
        non_local: non-local blocks in layers 2 and 3 (AGW and SBS recipes).
        last_stride: stride of layer4 (1 in every fast-reid recipe).
        stem_pool: the stem's max pooling, ``ceil`` or ``padded`` (see :data:`STEM_POOLS`).
    """
    if depth not in NON_LOCAL_STAGES:
        raise ValueError(f"fast-reid ResNet depth must be one of {sorted(NON_LOCAL_STAGES)}, got {depth}")
    if stem_pool not in STEM_POOLS:
        raise ValueError(f"stem_pool must be one of {sorted(STEM_POOLS)}, got {stem_pool!r}")
    backbone = ResNet(
        depth,
        last_stride=last_stride,
        ibn=ibn,
        se=se,
        non_local=NON_LOCAL_STAGES[depth] if non_local else (0, 0, 0, 0),
    )
    # The window positions differ between the two poolings, and each set of weights was trained
    # with one of them: features computed with the other are far off (see docs/families/fastreid.md).
    backbone.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, **STEM_POOLS[stem_pool])
    return backbone
