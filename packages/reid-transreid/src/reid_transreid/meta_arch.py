"""TransReID's re-id models: the ViT baseline with a BNNeck, and the full model with the JPM branch."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from reid_core import ModelMeta, ReIDModel
from reid_core.errors import CheckpointError
from reid_core.nn import bnneck, id_classifier
from torch import nn

from .backbones.vit import TransReIDViT, patch_grid, reshape_tokens
from .jpm import shift_and_shuffle

#: Size the published checkpoints were trained at; their ``pos_embed`` fits this grid.
TRAIN_SIZE = (256, 128)
PATCH = 16



class _TransReIDBase(ReIDModel):
    """What both TransReID models share: the trunk ``base``, sizes, checkpoints, Grad-CAM helpers."""

    # A classifier saved by training (see ``with_classifier``) is not needed for features.
    unused_checkpoint_keys = ("classifier.*", "classifier_*")
    classifier_keys = ("classifier.*", "classifier_*")

    def __init__(self, base: TransReIDViT, num_classes: int, img_size: tuple[int, int], stride: int) -> None:
        super().__init__()
        self.base = base
        self.num_classes = num_classes
        self.img_size = tuple(img_size)
        self._ckpt_grid = patch_grid(TRAIN_SIZE, PATCH, stride)

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch tokens, for laying tokens out as a feature map."""
        return self.base.grid

    def reshape_transform(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, 1 + H*W, C]`` of this model's ``cam_layer`` as a map ``[B, C, H, W]``."""
        return reshape_tokens(tokens, self.patch_grid)

    def attach_meta(self, meta: ModelMeta) -> None:
        """As :meth:`ReIDModel.attach_meta`, with ``input_size`` and ``cam_layer`` of this build."""
        super().attach_meta(dataclasses.replace(meta, input_size=self.img_size, cam_layer=self.cam_layer))

    @property
    def cam_layer(self) -> str:
        """Module path Grad-CAM attaches to in this build (its output is tokens: see ``reshape_transform``)."""
        raise NotImplementedError

    def convert_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Interpolate a checkpoint's ``base.pos_embed`` when it was made for another input size."""
        sd = dict(state_dict)
        key = "base.pos_embed"
        pos = sd.get(key)
        own = self.base.pos_embed
        if pos is None or pos.shape == own.shape:
            return sd
        if pos.dim() != 3 or pos.shape[2] != own.shape[2]:
            return sd  # not a size question: let the loader report the mismatch
        tokens = pos.shape[1] - 1
        rows, cols = self._ckpt_grid
        if tokens != rows * cols:
            raise CheckpointError(
                f"{key} has {tokens} patch positions, which fit neither this model's "
                f"{self.patch_grid[0]}x{self.patch_grid[1]} grid (img_size={self.img_size}) nor the "
                f"{rows}x{cols} grid of the {TRAIN_SIZE[0]}x{TRAIN_SIZE[1]} training size"
            )
        sd[key] = self.base.resize_pos_embed(pos, self._ckpt_grid)
        return sd


class TransReID(_TransReIDBase):
    """ViT baseline of TransReID: the class token of a ViT-B/16 with a BNNeck.

    Eval mode returns the class token before the BNNeck, ``[B, 768]`` (TransReID's
    ``TEST.NECK_FEAT: before``). Train mode returns ``{"logits": [B, num_classes] or None,
    "features": [B, 768]}``: logits of the BN-necked token (ID loss), features before the
    neck (triplet loss). Camera ids are ignored.

    Args:
        num_classes: identities of the classifier, kept as ``num_classes`` even without one.
        img_size: (H, W) to build for; checkpoints made at 256x128 have their position
            embeddings interpolated on loading (see :meth:`convert_checkpoint`).
        depth: transformer blocks of the trunk (12 for ViT-B).
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 at the first.
        with_classifier: build the bias-free identity classifier training needs. The published
            checkpoints have none, hence the default.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        img_size: tuple[int, int] = TRAIN_SIZE,
        depth: int = 12,
        drop_path_rate: float = 0.1,
        with_classifier: bool = False,
    ) -> None:
        base = TransReIDViT(img_size=img_size, stride=16, depth=depth, drop_path_rate=drop_path_rate)
        super().__init__(base, num_classes, img_size, stride=16)
        self.bottleneck = bnneck(base.embed_dim)
        if with_classifier:
            self.classifier = id_classifier(base.embed_dim, num_classes)

    @property
    def cam_layer(self) -> str:
        """The first norm of the last block: its patch tokens feed the class token's attention."""
        return f"base.blocks.{len(self.base.blocks) - 1}.norm1"

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        global_feat = self.base(x)
        if not self.training:
            return global_feat
        classifier = getattr(self, "classifier", None)
        logits = classifier(self.bottleneck(global_feat)) if classifier is not None else None
        return {"logits": logits, "features": global_feat}


class TransReIDJPM(_TransReIDBase):
    """Full TransReID: overlapping patches, camera SIE and the Jigsaw Patch Module.

    The trunk runs all blocks but the last. A copy of the last block and norm (``b1``) gives
    the global feature from every token; another copy (``b2``) gives four local features, each
    from the class token and one quarter of the shifted and shuffled patch tokens.

    Eval mode returns ``[B, 3840]``: the global feature and the four local features divided by
    4, all before their BN necks (TransReID's ``TEST.NECK_FEAT: before``). Train mode returns
    ``{"logits": [5 x [B, num_classes]] or None, "features": [5 x [B, 768]]}``, global first:
    logits of the BN-necked features (ID loss), features before the necks (triplet loss).

    ``camids`` select a row of the camera embedding ``base.sie_embed``, added (times 3.0) to every
    token. ``camids=None`` means the camera is unknown: the mean of the camera embeddings is
    added instead, the expected value over the training cameras.

    Args:
        num_classes: identities of the classifiers, kept as ``num_classes`` even without them.
        camera_num: rows of the camera embedding (6 Market-1501, 8 DukeMTMC-reID, 15 MSMT17).
        img_size: (H, W) to build for; checkpoints made at 256x128 have their position
            embeddings interpolated on loading (see :meth:`convert_checkpoint`).
        depth: transformer blocks of the trunk (12 for ViT-B).
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 at the first.
        with_classifier: build the bias-free identity classifiers training needs (``classifier``
            for the global feature, ``classifier_1`` .. ``classifier_4`` for the local ones). The
            published checkpoints have none, hence the default.
    """

    shift = 5  #: patches moved from the front to the back before the shuffle
    shuffle_groups = 2  #: chunks the shuffle interleaves
    parts = 4  #: local features, each from one quarter of the rearranged patches

    def __init__(
        self,
        num_classes: int,
        camera_num: int,
        *,
        img_size: tuple[int, int] = TRAIN_SIZE,
        depth: int = 12,
        drop_path_rate: float = 0.1,
        with_classifier: bool = False,
    ) -> None:
        if camera_num < 1:
            raise ValueError(f"camera_num must be at least 1 for the camera embedding, got {camera_num}")
        if depth < 2:
            raise ValueError(f"depth must be at least 2 (the trunk plus the block the branches copy), got {depth}")
        base = TransReIDViT(
            img_size=img_size,
            stride=12,
            depth=depth,
            camera_num=camera_num,
            sie_coef=3.0,
            drop_path_rate=drop_path_rate,
            local_feature=True,
        )
        super().__init__(base, num_classes, img_size, stride=12)
        self.camera_num = camera_num
        dim = base.embed_dim
        # Both branches start as copies of the trunk's last block and norm, as in TransReID, so
        # ImageNet weights loaded into the trunk seed them too.
        self.b1 = nn.Sequential(copy.deepcopy(base.blocks[-1]), copy.deepcopy(base.norm))
        self.b2 = nn.Sequential(copy.deepcopy(base.blocks[-1]), copy.deepcopy(base.norm))
        self.bottleneck = bnneck(dim)
        for i in range(1, self.parts + 1):
            self.add_module(f"bottleneck_{i}", bnneck(dim))
        if with_classifier:
            self.classifier = id_classifier(dim, num_classes)
            for i in range(1, self.parts + 1):
                self.add_module(f"classifier_{i}", id_classifier(dim, num_classes))

    @property
    def cam_layer(self) -> str:
        """The trunk's last block that runs: every output, global and local, depends on its tokens."""
        return f"base.blocks.{len(self.base.blocks) - 2}"

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        tokens = self.base(x, camids)
        global_feat = self.b1(tokens)[:, 0]
        cls = tokens[:, :1]
        patches = shift_and_shuffle(tokens, self.shift, self.shuffle_groups)
        length = (tokens.shape[1] - 1) // self.parts
        local_feats = [
            self.b2(torch.cat((cls, patches[:, i * length : (i + 1) * length]), dim=1))[:, 0]
            for i in range(self.parts)
        ]
        if not self.training:
            return torch.cat([global_feat] + [f / self.parts for f in local_feats], dim=1)
        feats = [global_feat, *local_feats]
        necks = [self.bottleneck] + [getattr(self, f"bottleneck_{i}") for i in range(1, self.parts + 1)]
        if not hasattr(self, "classifier"):
            return {"logits": None, "features": feats}
        heads = [self.classifier] + [getattr(self, f"classifier_{i}") for i in range(1, self.parts + 1)]
        logits = [head(neck(f)) for head, neck, f in zip(heads, necks, feats)]
        return {"logits": logits, "features": feats}
