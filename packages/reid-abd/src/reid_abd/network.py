"""ABD-Net (Chen et al., "ABD-Net: Attentive but Diverse Person Re-Identification", ICCV 2019).

A trunk shared up to its last stage (with a channel attention, the shallow CAM, after the first
stage), then one branch per head, each with its own copy of the last stage: the global branch
(pool, FC to 1024) and the ABD branch (two horizontal stripes, each through CAM and PAM heads,
1024-d each). The eval embedding concatenates them: 1024 + 2 x 1024 = 3072 dims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from reid_core import ReIDModel

from .backbones import TRUNKS
from .branches import ABDBranch, BranchOutput, GlobalBranch


class ABDNet(ReIDModel):
    """ABD-Net's ``MultiBranchNetwork`` with a ResNet-50 or DenseNet-121 trunk.

    Args:
        num_classes: identities of the training set (classifier rows).
        trunk: ``"resnet50"`` or ``"densenet121"``.
        branches: which heads to build, in order: ``"global"`` and/or ``"abd"``.
        dropout: dropout of the global branch's FC (``None``: none).
        global_dim: feature size of the global branch.
        abd_dim: feature size of each ABD stripe.
        abd_np: number of horizontal stripes of the ABD branch.
        abd_dan: attention heads of the ABD branch, a subset of ``("cam", "pam")``.
        shallow_cam: the CAM after the trunk's first stage.
    """

    classifier_keys = ("branches.*.1.classifier.*", "branches.*.1.classifiers.*")

    def __init__(
        self,
        num_classes: int,
        trunk: str = "resnet50",
        branches: Sequence[str] = ("global", "abd"),
        dropout: float | None = 0.5,
        global_dim: int = 1024,
        abd_dim: int = 1024,
        abd_np: int = 2,
        abd_dan: Sequence[str] = ("cam", "pam"),
        shallow_cam: bool = True,
    ) -> None:
        super().__init__()
        if trunk not in TRUNKS:
            raise ValueError(f"ABD-Net trunk must be one of {sorted(TRUNKS)}, got {trunk!r}")
        unknown = [b for b in branches if b not in ("global", "abd")]
        if unknown or not branches:
            raise ValueError(f"ABD-Net branches are 'global' and/or 'abd', got {list(branches)}")
        split = TRUNKS[trunk](shallow_cam=shallow_cam)
        self.common_branch = split.common
        heads: list[nn.Module] = []
        for name in branches:
            deep = split.deep_branch()
            if name == "global":
                head: nn.Module = GlobalBranch(deep.out_dim, global_dim, num_classes, dropout)
            else:
                head = ABDBranch(deep.out_dim, abd_dim, num_classes, abd_np, abd_dan)
            heads.append(nn.Sequential(deep, head))
        self.branches = nn.ModuleList(heads)

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        """Eval: the concatenated branch features ``[B, 3072]`` (global 1024, then the 2 ABD stripes).

        Train: a dict with

        * ``"logits"``: tuple of ``[B, num_classes]``, one per feature (global, stripe 1, stripe 2),
          each for a cross-entropy loss;
        * ``"features"``: tuple of the matching ``[B, 1024]`` features, for the triplet loss;
        * ``"fmaps"``: ``{position: tuple of maps}`` for :func:`reid_abd.losses.of_penalty`:
          ``"intermediate"`` (the shallow CAM's output), ``"before"``, ``"cam"``, ``"pam"`` (the
          three heads of each ABD stripe) and ``"after"`` (their merged map).
        """
        x, intermediate = self.common_branch(x)
        outputs: list[BranchOutput] = [branch(x) for branch in self.branches]
        features = [f for out in outputs for f in out.features]
        if not self.training:
            return torch.cat(features, dim=1)
        fmaps: dict[str, list[torch.Tensor]] = {"intermediate": [intermediate]}
        for out in outputs:
            for position, maps in out.fmaps.items():
                fmaps.setdefault(position, []).extend(maps)
        return {
            "logits": tuple(logit for out in outputs for logit in out.logits),
            "features": tuple(features),
            "fmaps": {position: tuple(maps) for position, maps in fmaps.items()},
        }

    def regularized_convs(self, scope: str = "upstream") -> list[nn.Conv2d]:
        """The trunk convolutions the orthogonal-weight regularizer covers.

        ``"upstream"``: those ABD-Net's own regularizer reaches (ResNet-50: the stem convolution
        only; DenseNet-121: every trunk convolution); ``"all"``: every convolution of the trunk,
        shared part and each branch's copy of the last stage. Heads are never included.
        """
        if scope not in ("upstream", "all"):
            raise ValueError(f"scope must be 'upstream' or 'all', got {scope!r}")
        convs = self.common_branch.regularized_convs(scope)
        for branch in self.branches:
            convs.extend(branch[0].regularized_convs(scope))
        return convs
