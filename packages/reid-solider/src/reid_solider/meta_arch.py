"""SOLIDER-REID's re-id model: a SOLIDER Swin trunk with TransReID's BNNeck."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from reid_core import ModelMeta, ReIDModel
from reid_core.errors import CheckpointError
from reid_core.nn import bnneck, id_classifier

from .backbones.swin import SoliderSwin

#: Size SOLIDER-REID trains and tests at (``INPUT.SIZE_TRAIN/SIZE_TEST`` of every config).
INPUT_SIZE = (384, 128)
#: Total downsampling of the trunk: patch 4, then three 2x merges.
STRIDE = 32


class SoliderReID(ReIDModel):
    """SOLIDER-REID (``build_transformer``): Swin trunk, average-pooled last stage, BNNeck.

    Eval mode returns the pooled feature before the BNNeck, ``[B, C]`` (the configs'
    ``TEST.NECK_FEAT: before``). Train mode returns ``{"logits": [B, num_classes],
    "features": [B, C]}``: logits of the BN-necked feature (ID loss), the feature before the neck
    (triplet loss). Camera ids are ignored.

    Args:
        num_classes: identities of the classifier (``classifier.weight`` of the checkpoints).
        embed_dim, depths, heads: the Swin size (see :class:`~reid_solider.backbones.swin.SoliderSwin`).
        semantic_weight: SOLIDER's semantic controller input (0.2, as SOLIDER-REID tests its
            checkpoints; it changes the features, not the architecture).
        drop_path_rate: stochastic depth of the trunk's last block (0.1 in the configs).
        img_size: (H, W) the model is meant for; any size runs (maps are padded to whole windows).
    """

    classifier_keys = ("classifier.weight",)

    def __init__(
        self,
        num_classes: int,
        *,
        embed_dim: int,
        depths: tuple[int, ...],
        heads: tuple[int, ...],
        semantic_weight: float = 0.2,
        drop_path_rate: float = 0.1,
        img_size: tuple[int, int] = INPUT_SIZE,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.img_size = tuple(img_size)
        self.base = SoliderSwin(
            embed_dim, depths, heads, semantic_weight=semantic_weight, drop_path_rate=drop_path_rate
        )
        dim = self.base.out_dim
        self.bottleneck = bnneck(dim)
        self.classifier = id_classifier(dim, num_classes)

    @property
    def semantic_weight(self) -> float:
        """The semantic controller input ``s`` this model runs with."""
        return self.base.semantic_weight

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the last stage's tokens at ``img_size``."""
        return (-(-self.img_size[0] // STRIDE), -(-self.img_size[1] // STRIDE))

    def reshape_transform(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, h*w, C]`` of ``cam_layer`` (``base.norm3``) as a map ``[B, C, h, w]``."""
        h, w = self.patch_grid
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)

    def attach_meta(self, meta: ModelMeta) -> None:
        """As :meth:`ReIDModel.attach_meta`, with the ``input_size`` of this build."""
        super().attach_meta(dataclasses.replace(meta, input_size=self.img_size))

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        feat = self.base(x)
        if not self.training:
            return feat
        return {"logits": self.classifier(self.bottleneck(feat)), "features": feat}

    def convert_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Check the stored ``relative_position_index`` buffers against the computed ones.

        They are fixed by the window size; a file whose indices differ was made for another
        window (or damaged) and would silently give wrong features, so it is refused.
        """
        sd = dict(state_dict)
        own = self.state_dict()
        for key, value in sd.items():
            if key.endswith("relative_position_index") and key in own and value.shape == own[key].shape:
                if not torch.equal(value.to(own[key].dtype), own[key]):
                    raise CheckpointError(
                        f"{key} holds other indices than a 7x7 window's: this checkpoint was not made "
                        "for this architecture"
                    )
        return sd
