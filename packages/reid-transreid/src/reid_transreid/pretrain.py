"""Pretrained starts of the ``*_transreid`` models: TransReID's configs set
``PRETRAIN_CHOICE: 'imagenet'`` with ``PRETRAIN_PATH`` timm's ``jx_vit_base_p16_224-80ecf9dd.pth``
(ViT-B/16) or DeiT's ``deit_base_distilled_patch16_224-df68dfff.pth``, loaded by ``load_param``.

``load_param`` unwraps ``{"model": ...}``, skips every key containing ``head`` or ``dist`` (the
ImageNet heads and DeiT's distillation token), drops the distillation token's position from a
distilled file's ``pos_embed`` and resizes the 14 x 14 grid to the model's patch grid
(bilinear). The jigsaw branches ``b1`` and ``b2`` are copies of the last block and the final
norm, made after loading, so they start from the same ImageNet values.
"""

from __future__ import annotations

import math

import torch
from reid_core.backbone_weights import BackboneSpec
from torch import nn

FILES = {
    "vit_base_transreid": "jx_vit_base_p16_224",
    "vit_transreid": "jx_vit_base_p16_224",
    "deit_transreid": "deit_base_distilled_patch16_224",
}


def _fit_pos_embed(model: nn.Module, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    base = model.base
    pos = sd.get("pos_embed")
    if pos is not None and pos.shape != base.pos_embed.shape:
        if "dist_token" in sd:  # a distilled file: class, distillation, then patch tokens
            pos = torch.cat([pos[:, :1], pos[:, 2:]], dim=1)
        side = math.isqrt(pos.shape[1] - 1)
        if side * side != pos.shape[1] - 1:
            raise ValueError(f"pos_embed of the file has {pos.shape[1] - 1} patch tokens, not a square grid")
        sd["pos_embed"] = base.resize_pos_embed(pos, (side, side))
    return sd


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    if name not in FILES:
        return None
    rename: tuple[tuple[str, str], ...] = (("", "base."),)
    trunk: tuple[str, ...] = ("base.*",)
    if hasattr(model, "b1"):
        last = f"blocks.{len(model.base.blocks) - 1}."
        rename += ((last, "b1.0."), (last, "b2.0."), ("norm.", "b1.1."), ("norm.", "b2.1."))
        trunk += ("b1.*", "b2.*")
    return BackboneSpec(
        FILES[name],
        trunk=trunk,
        rename=rename,
        # load_param skips any key containing "head" or "dist"
        drop=("*head*", "*dist*"),
        # the ImageNet fc is never loaded (the file calls it head); SIE is new
        fresh=("base.fc.*", "base.sie_embed"),
        convert=_fit_pos_embed,
    )
