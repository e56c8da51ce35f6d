"""From what a model returns in train mode to one scalar loss, as the config's recipe says.

Families return, in train mode, either ``(logits, features)`` or a dict with any of:

* ``"logits"``: class scores for cross entropy (a tensor, or a list for multi-branch models);
* ``"cos_logits"``: cosine similarities to the class weights, turned into margin-softmax logits
  (circle, cosface, arcface) here because that needs the labels;
* ``"features"``: embeddings for the triplet and center losses (tensor or list);
* ``"losses"``: a dict of terms the model computes itself;
* anything else a configured regularizer reads (e.g. ABD-Net's ``"fmaps"``).

What each family returns, and the recipe settings that match it:

==============  =====================================================  ==============================
family          train-mode output                                      recipe settings
==============  =====================================================  ==============================
fastreid        ``{"logits", "features"}``; lists of 8 for MGN; the    ``COS_LOGITS_SCALE`` 64 with
                circle head's logits are ``64 * cos`` without margin   circle; MGN ``TRI_GROUPS``
transreid       ``{"logits": 5 or 1, "features": 5 or 1}``; logits     ``BRANCH_WEIGHTING``
                need ``MODEL.KWARGS.with_classifier``                  ``global_local``
abd             ``{"logits": 3, "features": 3, "fmaps": {...}}``       ``REGULARIZERS`` (OF, OW)
clipreid        stage 1 ``{"losses"}`` (image-text contrastive);       ``EXTRA_WEIGHT`` (I2T); the
                stage 2 ``{"logits": 2, "features": 3, "losses"}``     model takes ``targets=``
bot, agw,       ``(logits, features)``                                 plain
apnet, dpr
==============  =====================================================  ==============================
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
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


def parse_groups(spec: str, n: int) -> list[list[int]]:
    """``"0;1;3,4"`` -> ``[[0], [1], [3, 4]]``; ``""`` -> one group per feature (``n`` of them)."""
    if not spec.strip():
        return [[i] for i in range(n)]
    groups = [[int(i) for i in part.split(",")] for part in spec.split(";") if part.strip()]
    bad = sorted({i for g in groups for i in g if not 0 <= i < n})
    if bad:
        raise ValueError(f"LOSS.TRI_GROUPS {spec!r} names features {bad}, but the model returns {n}")
    return groups


def combine(terms: list[torch.Tensor], weighting: str) -> torch.Tensor:
    """One value from per-branch terms: their mean, or TransReID's half global, half mean of the locals."""
    if weighting == "mean" or len(terms) == 1:
        return sum(terms) / len(terms)
    if weighting == "global_local":
        return 0.5 * terms[0] + 0.5 * sum(terms[1:]) / len(terms[1:])
    raise ValueError(f"LOSS.BRANCH_WEIGHTING must be 'mean' or 'global_local', got {weighting!r}")


def import_function(path: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function."""
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"a regularizer FUNCTION is 'package.module:function', got {path!r}")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import regularizer {path!r}: {e}") from e


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
        self.regularizers: dict[str, tuple[Callable[..., Any], str, float, int]] = {}
        for name, spec in self.cfg.REGULARIZERS.items():
            self.regularizers[name.lower()] = (
                import_function(spec["FUNCTION"]), spec.get("INPUT", "model"),
                float(spec.get("WEIGHT", 1.0)), int(spec.get("START_EPOCH", 0)),
            )

    def forward(
        self, out: Any, targets: torch.Tensor, *, model: nn.Module | None = None, epoch: int = 0
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its named parts (floats, for logging).

        Args:
            out: the model's train-mode output.
            targets: identity labels ``[B]``.
            model: the (unwrapped) model, for regularizers whose ``INPUT`` is ``model``.
            epoch: the current epoch (0-based), for regularizers with a ``START_EPOCH``.
        """
        parts = split_outputs(out)
        c = self.cfg
        terms: dict[str, torch.Tensor] = {}
        logits = list(parts["logits"])
        if c.COS_LOGITS_SCALE > 0 and logits:
            if not c.MARGIN_SOFTMAX:
                raise ValueError("LOSS.COS_LOGITS_SCALE is set: set LOSS.MARGIN_SOFTMAX (circle, cosface, arcface) too")
            margin = MARGIN_LOGITS[c.MARGIN_SOFTMAX]
            logits = [margin(z.float() / c.COS_LOGITS_SCALE, targets, c.MARGIN_SCALE, c.MARGIN) for z in logits]
        if parts["cos_logits"]:
            if not c.MARGIN_SOFTMAX:
                raise ValueError("the model returns cosine logits: set LOSS.MARGIN_SOFTMAX (circle, cosface, arcface)")
            margin = MARGIN_LOGITS[c.MARGIN_SOFTMAX]
            logits += [margin(cos, targets, c.MARGIN_SCALE, c.MARGIN) for cos in parts["cos_logits"]]
        if c.CE_WEIGHT:
            if not logits:
                raise ValueError(
                    "LOSS.CE_WEIGHT > 0 but the model returns no logits: build it with its classifier "
                    "(TransReID: MODEL.KWARGS.with_classifier True) or set LOSS.CE_WEIGHT 0"
                )
            ce = [cross_entropy_label_smooth(z, targets, c.CE_EPSILON) for z in logits]
            terms["ce"] = c.CE_WEIGHT * combine(ce, c.BRANCH_WEIGHTING)
        feats = parts["features"]
        if c.TRI_WEIGHT and feats:
            margin = c.TRI_MARGIN if c.TRI_MARGIN > 0 else None
            groups = parse_groups(c.TRI_GROUPS, len(feats))
            grouped = [feats[g[0]] if len(g) == 1 else torch.cat([feats[i] for i in g], dim=1) for g in groups]
            tri = [triplet_loss(f, targets, margin, normalize=c.TRI_NORM_FEAT, mining=c.TRI_MINING) for f in grouped]
            terms["triplet"] = c.TRI_WEIGHT * combine(tri, c.BRANCH_WEIGHTING)
        if self.center is not None and feats:
            terms["center"] = c.CENTER_WEIGHT * self.center(feats[0], targets)
        for name, value in parts["losses"].items():
            terms[name] = c.EXTRA_WEIGHT * value
        for name, (fn, source, weight, start) in self.regularizers.items():
            if epoch < start:
                continue
            if source == "model":
                if model is None:
                    raise ValueError(f"regularizer {name!r} reads the model: pass model= to the objective")
                arg = model
            elif isinstance(out, Mapping) and source in out:
                arg = out[source]
            else:
                raise ValueError(f"regularizer {name!r} reads {source!r}, which the model's train-mode output lacks")
            terms[name] = weight * fn(arg)
        if not terms:
            raise ValueError("no loss term applies: check the LOSS weights against what the model returns")
        total = sum(terms.values())
        return total, {k: float(v.detach()) for k, v in terms.items()}
