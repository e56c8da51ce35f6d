"""From what a model returns in train mode to one scalar loss, as the config's recipe says.

Families return, in train mode, either ``(logits, features)`` or a dict with any of:

* ``"logits"``: class scores for cross entropy (a tensor, or a list for multi-branch models);
* ``"cos_logits"``: cosine similarities to the class weights, turned into margin-softmax logits
  (circle, cosface, arcface) here because that needs the labels;
* ``"features"``: embeddings for the triplet and center losses (tensor or list);
* ``"losses"``: a dict of terms the model computes itself (e.g. ABD's orthogonality regularizers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from yacs.config import CfgNode

from .losses import MARGIN_LOGITS, CenterLoss, cross_entropy_label_smooth, triplet_loss


def _as_list(x: Any) -> list[torch.Tensor]:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [x]
    return [t for t in x if t is not None]


def split_outputs(out: Any) -> dict[str, Any]:
    """Normalize a model's train-mode output into the dict form above."""
    if isinstance(out, Mapping):
        return {
            "logits": _as_list(out.get("logits")),
            "cos_logits": _as_list(out.get("cos_logits")),
            "features": _as_list(out.get("features")),
            "losses": dict(out.get("losses") or {}),
        }
    if isinstance(out, Sequence) and len(out) == 2:
        return {"logits": _as_list(out[0]), "cos_logits": [], "features": _as_list(out[1]), "losses": {}}
    raise TypeError(
        "a model in train mode must return (logits, features) or a dict with logits/cos_logits/"
        f"features/losses; got {type(out).__name__}"
    )


class Objective(nn.Module):
    """The weighted sum of the recipe's losses. Holds the center-loss centers when used."""

    def __init__(self, cfg: CfgNode, num_classes: int, feat_dim: int | None) -> None:
        super().__init__()
        self.cfg = cfg.LOSS
        self.center = None
        if self.cfg.CENTER_WEIGHT > 0:
            if not feat_dim:
                raise ValueError("LOSS.CENTER_WEIGHT > 0 needs the model's feature dimension")
            self.center = CenterLoss(num_classes, feat_dim)

    def forward(self, out: Any, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its named parts (floats, for logging)."""
        parts = split_outputs(out)
        c = self.cfg
        terms: dict[str, torch.Tensor] = {}
        logits = list(parts["logits"])
        if parts["cos_logits"]:
            if not c.MARGIN_SOFTMAX:
                raise ValueError("the model returns cosine logits: set LOSS.MARGIN_SOFTMAX (circle, cosface, arcface)")
            margin = MARGIN_LOGITS[c.MARGIN_SOFTMAX]
            logits += [margin(cos, targets, c.MARGIN_SCALE, c.MARGIN) for cos in parts["cos_logits"]]
        if c.CE_WEIGHT and logits:
            ce = sum(cross_entropy_label_smooth(z, targets, c.CE_EPSILON) for z in logits) / len(logits)
            terms["ce"] = c.CE_WEIGHT * ce
        feats = parts["features"]
        if c.TRI_WEIGHT and feats:
            margin = c.TRI_MARGIN if c.TRI_MARGIN > 0 else None
            tri = sum(triplet_loss(f, targets, margin, normalize=c.TRI_NORM_FEAT, mining=c.TRI_MINING) for f in feats)
            terms["triplet"] = c.TRI_WEIGHT * tri / len(feats)
        if self.center is not None and feats:
            terms["center"] = c.CENTER_WEIGHT * self.center(feats[0], targets)
        for name, value in parts["losses"].items():
            terms[name] = c.EXTRA_WEIGHT * value
        if not terms:
            raise ValueError("no loss term applies: check the LOSS weights against what the model returns")
        total = sum(terms.values())
        return total, {k: float(v.detach()) for k, v in terms.items()}
