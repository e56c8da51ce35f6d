"""TransReID-SSL's re-id model: the LUPerson-pretrained ViT's class token with a BNNeck."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from reid_core import ModelMeta, ReIDModel
from reid_core.errors import CheckpointError
from reid_core.nn import bnneck, id_classifier
from reid_core.nn.vit import grid_of, patch_grid, reshape_tokens

from .backbones.vit import SSLViT

PATCH = 16
#: Input sizes TransReID-SSL trains at; a checkpoint's ``pos_embed`` fits the grid of one of them
#: (LUPerson pretraining ran at 256x128).
TRAIN_SIZES = ((256, 128), (384, 128))


class TransReIDSSL(ReIDModel):
    """ViT-S/16 or ViT-B/16 (optionally with the ICS stem) and a BNNeck, as TransReID-SSL trains them.

    Eval mode returns the class token after the trunk's final norm and before the BNNeck,
    ``[B, D]`` (TransReID-SSL's ``TEST.NECK_FEAT: before``). Train mode returns ``{"logits":
    [B, num_classes], "features": [B, D]}``: logits of the BN-necked token (ID loss) and the token
    before the neck (triplet loss). There is no camera embedding: camids are ignored.

    The published checkpoints are the whole model's state dict, with the classifier and the
    trunk's unused ImageNet head ``base.fc``, so both are always built.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        embed_dim, depth, num_heads: trunk sizes (ViT-S: 384, 12, 6; ViT-B: 768, 12, 12).
        ics: the IBN-based convolution stem before the patch projection.
        img_size: (H, W) to build for. A checkpoint made at another of TransReID-SSL's sizes has
            its position embeddings interpolated on loading (see :meth:`convert_checkpoint`).
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
        ics: bool,
        img_size: tuple[int, int],
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        self.base = SSLViT(
            img_size=tuple(img_size), embed_dim=embed_dim, depth=depth, num_heads=num_heads, ics=ics,
            drop_path_rate=drop_path_rate,
        )
        self.num_classes = num_classes
        self.img_size = tuple(img_size)
        self.classifier = id_classifier(embed_dim, num_classes)
        self.bottleneck = bnneck(embed_dim)

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch tokens, for laying tokens out as a feature map."""
        return self.base.grid

    @property
    def cam_layer(self) -> str:
        """The first norm of the last block: its patch tokens feed the class token's last attention."""
        return f"base.blocks.{len(self.base.blocks) - 1}.norm1"

    def reshape_transform(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, 1 + H*W, C]`` of this model's ``cam_layer`` as a map ``[B, C, H, W]``."""
        return reshape_tokens(tokens, self.patch_grid)

    def attach_meta(self, meta: ModelMeta) -> None:
        """As :meth:`ReIDModel.attach_meta`, with ``input_size`` and ``cam_layer`` of this build."""
        super().attach_meta(dataclasses.replace(meta, input_size=self.img_size, cam_layer=self.cam_layer))

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        feat = self.base(x)
        if not self.training:
            return feat
        return {"logits": self.classifier(self.bottleneck(feat)), "features": feat}

    def convert_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Interpolate ``base.pos_embed`` when the checkpoint was made for another input size."""
        sd = dict(state_dict)
        key = "base.pos_embed"
        if key in sd:
            sd[key] = fit_pos_embed(self.base, sd[key], key)
        return sd


def fit_pos_embed(base: SSLViT, pos: torch.Tensor, key: str) -> torch.Tensor:
    """``pos`` (class slot first) resized to ``base``'s grid when it was made at one of :data:`TRAIN_SIZES`."""
    own = base.pos_embed
    if pos.shape == own.shape or pos.dim() != 3 or pos.shape[2] != own.shape[2]:
        return pos  # nothing to do, or not a size question: the loader reports the mismatch
    old = grid_of(pos.shape[1] - 1, tuple(patch_grid(s, PATCH, PATCH) for s in TRAIN_SIZES))
    if old is None:
        raise CheckpointError(
            f"{key} has {pos.shape[1] - 1} patch positions, which fit neither this model's "
            f"{base.grid[0]}x{base.grid[1]} grid nor the grid of a training size "
            f"({', '.join(f'{h}x{w}' for h, w in TRAIN_SIZES)})"
        )
    return base.resize_pos_embed(pos, old)
