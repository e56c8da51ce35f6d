"""PASS's re-id model: the class token and the mean of three part tokens, each part with its own BNNeck."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from reid_core import ModelMeta, ReIDModel
from reid_core.errors import CheckpointError
from reid_core.nn import bnneck, id_classifier
from reid_core.nn.vit import grid_of, patch_grid, reshape_tokens

from .backbones.vit import PARTS, PASSViT

PATCH = 16
#: Input sizes PASS trains at; a checkpoint's ``pos_embed`` fits the grid of one of them
#: (the LUPerson pretraining ran at 256x128).
TRAIN_SIZES = ((256, 128), (384, 128))


class PASS(ReIDModel):
    """PASS-reID's supervised model: a ViT with part tokens, four BNNecks, one classifier.

    Eval mode returns ``[B, 2C]``: the class token, then the mean of the three part tokens, all
    after the trunk's final norm and before the necks (PASS's ``MODEL.FEAT_FUSION: cat``,
    ``TEST.NECK_FEAT: before``). Train mode returns ``{"logits": [B, num_classes], "features":
    [B, 2C]}``: the logits come from the necked features (``bottleneck`` for the class token,
    ``bottleneck_K`` for part K, the parts averaged after their necks), the features are the
    eval ones (triplet loss). There is no camera embedding: camids are ignored.

    The published checkpoints are the whole model's state dict, with the classifier and the
    trunk's unused ImageNet head ``base.fc``, so both are always built.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        embed_dim, depth, num_heads: trunk sizes (ViT-S: 384, 12, 6; ViT-B: 768, 12, 12).
        img_size: (H, W) to build for. A checkpoint made at PASS's other size has its position
            embeddings interpolated on loading (see :meth:`convert_checkpoint`).
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 (0.1 upstream).
    """

    classifier_keys = ("classifier.*",)

    def __init__(
        self,
        num_classes: int,
        *,
        embed_dim: int,
        depth: int,
        num_heads: int,
        img_size: tuple[int, int],
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        self.base = PASSViT(
            img_size=tuple(img_size), embed_dim=embed_dim, depth=depth, num_heads=num_heads,
            drop_path_rate=drop_path_rate,
        )
        self.num_classes = num_classes
        self.img_size = tuple(img_size)
        self.classifier = id_classifier(2 * embed_dim, num_classes)
        self.bottleneck = bnneck(embed_dim)
        for k in range(1, PARTS + 1):
            self.add_module(f"bottleneck_{k}", bnneck(embed_dim))

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch tokens, for laying tokens out as a feature map."""
        return self.base.grid

    @property
    def cam_layer(self) -> str:
        """The first norm of the last block: its patch tokens feed the class and part tokens' last attention."""
        return f"base.blocks.{len(self.base.blocks) - 1}.norm1"

    def reshape_transform(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, 4 + H*W, C]`` of this model's ``cam_layer`` as a map ``[B, C, H, W]``."""
        return reshape_tokens(tokens, self.patch_grid)

    def attach_meta(self, meta: ModelMeta) -> None:
        """As :meth:`ReIDModel.attach_meta`, with ``input_size`` and ``cam_layer`` of this build."""
        super().attach_meta(dataclasses.replace(meta, input_size=self.img_size, cam_layer=self.cam_layer))

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        cls, *parts = self.base(x)
        # Each part divided by 3 before the sum, in upstream's order, so that the floats match.
        before = torch.cat((cls, parts[0] / 3.0 + parts[1] / 3.0 + parts[2] / 3.0), dim=1)
        if not self.training:
            return before
        necks = [getattr(self, f"bottleneck_{k}") for k in range(1, PARTS + 1)]
        necked = [neck(p) for neck, p in zip(necks, parts)]
        after = torch.cat((self.bottleneck(cls), necked[0] / 3 + necked[1] / 3 + necked[2] / 3), dim=1)
        return {"logits": self.classifier(after), "features": before}

    def convert_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Interpolate ``base.pos_embed`` when the checkpoint was made for another input size."""
        sd = dict(state_dict)
        key = "base.pos_embed"
        if key in sd:
            sd[key] = fit_pos_embed(self.base, sd[key], key)
        return sd


def fit_pos_embed(base: PASSViT, pos: torch.Tensor, key: str) -> torch.Tensor:
    """Patch ``pos`` resized to ``base``'s grid when it was made at one of :data:`TRAIN_SIZES`."""
    own = base.pos_embed
    if pos.shape == own.shape or pos.dim() != 3 or pos.shape[2] != own.shape[2]:
        return pos  # nothing to do, or not a size question: the loader reports the mismatch
    old = grid_of(pos.shape[1], tuple(patch_grid(s, PATCH, PATCH) for s in TRAIN_SIZES))
    if old is None:
        raise CheckpointError(
            f"{key} has {pos.shape[1]} patch positions, which fit neither this model's "
            f"{base.grid[0]}x{base.grid[1]} grid nor the grid of a training size "
            f"({', '.join(f'{h}x{w}' for h, w in TRAIN_SIZES)})"
        )
    return base.resize_pos_embed(pos, old)
