"""fast-reid's meta-architectures: ``Baseline`` (one embedding head) and ``MGN`` (three branches).

Both keep fast-reid's module names (``backbone``, ``heads``; ``b1``..``b3`` and ``b1_head``..
``b33_head``) so that the seed's checkpoints load as they are. Unlike fast-reid they hold no
``pixel_mean``/``pixel_std`` buffers: normalization is the model's metadata (see
:class:`reid_core.ReIDModel`), and :meth:`FastReIDModel.convert_checkpoint` turns the buffers of
fast-reid's own release checkpoints into that metadata.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import nn

from reid_core import ReIDModel
from reid_core.nn import GeneralizedMeanPooling

from .convert import pop_pixel_statistics, rename_legacy_keys, report_unmapped
from .heads import EmbeddingHead, build_pooling

_STAT_TOLERANCE = 1e-5  # float32 round-off of e.g. 0.485 * 255 / 255

MGNLayout = Literal["head_reduce", "pool_reduce"]


class FastReIDModel(ReIDModel):
    """What the fast-reid models share: reading fast-reid's older release checkpoints."""

    def convert_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Bring a fast-reid checkpoint to this model's names, adopting what it says about the model.

        * ``pixel_mean``/``pixel_std`` (0-255 scale) are removed; divided by 255 they become the
          model's normalization when they differ from it.
        * Old head names are renamed (:data:`reid_fastreid.convert.LEGACY_RENAMES`).
        * A learned GeM exponent (``*.pool_layer.p``) for a head whose exponent is fixed (AGW)
          becomes that head's exponent: fast-reid's release AGW models learned it.

        When the checkpoint is in the old layout, every key left unaccounted for is listed in a
        warning (strict loading then fails on them).
        """
        sd = dict(state_dict)
        stats = pop_pixel_statistics(sd)
        if stats is not None:
            self._adopt_normalization(*stats)
        sd, renamed = rename_legacy_keys(sd)
        absorbed = self._absorb_fixed_gem_exponents(sd)
        if stats is not None or renamed or absorbed:
            report_unmapped(self._name_or_type(), sd, self.state_dict())
        return sd

    def _adopt_normalization(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        current = (self.norm_mean.flatten().tolist(), self.norm_std.flatten().tolist())
        close = all(abs(a - b) <= _STAT_TOLERANCE for a, b in zip((*mean, *std), (*current[0], *current[1])))
        if close:
            return
        if self.meta is not None:
            self.attach_meta(dataclasses.replace(self.meta, mean=tuple(mean), std=tuple(std)))
        else:
            device = self.norm_mean.device
            self.norm_mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
            self.norm_std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def _absorb_fixed_gem_exponents(self, sd: dict[str, torch.Tensor]) -> list[str]:
        absorbed = []
        for name, module in self.named_modules():
            if not isinstance(module, EmbeddingHead):
                continue
            pool = module.pool_layer
            key = f"{name}.pool_layer.p"
            if isinstance(pool, GeneralizedMeanPooling) and not pool.learnable and key in sd:
                value = sd.pop(key)
                if value.numel() != 1:
                    raise ValueError(f"checkpoint {key!r} has shape {list(value.shape)}; expected one exponent")
                pool.p = float(value)
                absorbed.append(key)
        return absorbed


class Baseline(FastReIDModel):
    """fast-reid's ``Baseline``: a backbone and one :class:`~reid_fastreid.heads.EmbeddingHead`.

    Args:
        backbone: a module with ``out_channels`` whose forward returns ``[B, C, h, w]``.
        num_classes: training identities.
        **head: options of :class:`~reid_fastreid.heads.EmbeddingHead` (pooling, neck_feat, classifier ...).
    """

    classifier_keys = ("heads.weight",)

    def __init__(self, backbone: nn.Module, num_classes: int, **head: Any) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = EmbeddingHead(backbone.out_channels, num_classes, **head)

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> torch.Tensor | dict[str, torch.Tensor]:
        """Eval: the BNNeck feature ``[B, C]``.

        Train: ``{"logits": [B, num_classes], "features": [B, C]}`` (see
        :meth:`reid_fastreid.heads.EmbeddingHead.forward` for which feature and which logits).
        """
        return self.heads(self.backbone(x))


class MGN(FastReIDModel):
    """Multiple Granularity Network (Wang et al., ACM MM 2018) as fast-reid builds it.

    The trunk runs up to the first block of layer3 (``backbone``). Three branches (``b1``..``b3``)
    each continue with their own copy of the rest of layer3 and of layer4 (last stride 1). Branch
    1 keeps the whole map; branch 2 also cuts it into 2 horizontal stripes and branch 3 into 3.
    Each of the eight maps is reduced to 256 dimensions and normalized by its own BNNeck.

    Where the reduction sits depends on the fast-reid code era (``layout``):

    * ``head_reduce`` (today): each head ``b*_head`` pools, reduces with a 1x1 convolution
      (``bottleneck.0``) and normalizes (``bottleneck.1``).
    * ``pool_reduce`` (the code of the v0.1.1 release files, 2020-07-30): a module ``b*_pool``
      per map pools, reduces, normalizes and applies a ReLU (``b*_pool.1``, ``b*_pool.2``); the
      head is only the BNNeck (``bottleneck.0``) and the classifier. The eight share one pooling
      module (one learnable GeM exponent, stored under every ``b*_pool.0.p``), as upstream.

    The recipe's non-local blocks are not part of MGN: the branches are cut from the trunk's
    stages, which leaves the blocks out (as upstream).

    Args:
        backbone: a ResNet or ResNeSt trunk (``conv1``, ``bn1``, ``relu``, ``maxpool``,
            ``layer1``..``layer4``); its modules are taken over or copied.
        num_classes: training identities.
        embedding_dim: size of each head's feature.
        layout: ``head_reduce`` or ``pool_reduce`` (see above).
        **head: options of :class:`~reid_fastreid.heads.EmbeddingHead`.
    """

    classifier_keys = ("b*_head.weight",)
    #: heads in the order of the eval feature's 256-wide blocks
    HEADS = ("b1_head", "b2_head", "b3_head", "b21_head", "b22_head", "b31_head", "b32_head", "b33_head")
    #: the ``pool_reduce`` layout's pooling modules, in the order of :attr:`HEADS`
    POOLS = tuple(h.replace("_head", "_pool") for h in HEADS)

    def __init__(self, backbone: nn.Module, num_classes: int, embedding_dim: int = 256,
                 layout: MGNLayout = "head_reduce", **head: Any) -> None:
        super().__init__()
        if layout not in ("head_reduce", "pool_reduce"):
            raise ValueError(f"MGN layout must be 'head_reduce' or 'pool_reduce', got {layout!r}")
        self.layout = layout
        self.backbone = nn.Sequential(
            backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool,
            backbone.layer1, backbone.layer2, backbone.layer3[0],
        )
        rest_of_layer3 = nn.Sequential(*backbone.layer3[1:])
        feat_dim = backbone.out_channels

        def branch() -> nn.Sequential:
            return nn.Sequential(copy.deepcopy(rest_of_layer3), copy.deepcopy(backbone.layer4))

        for name in ("b1", "b2", "b3"):
            setattr(self, name, branch())
        if layout == "head_reduce":
            for name in self.HEADS:
                setattr(self, name, EmbeddingHead(feat_dim, num_classes, embedding_dim=embedding_dim, **head))
            return
        shared_pool = build_pooling(head.pop("pooling", "avg"))
        for pool_name, head_name in zip(self.POOLS, self.HEADS):
            reduce = nn.Conv2d(feat_dim, embedding_dim, 1, bias=False)
            nn.init.kaiming_normal_(reduce.weight, mode="fan_out")
            pool = nn.Sequential(shared_pool, reduce, nn.BatchNorm2d(embedding_dim), nn.ReLU(inplace=True))
            setattr(self, pool_name, pool)
            setattr(self, head_name, EmbeddingHead(embedding_dim, num_classes, pooling="identity", **head))

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> torch.Tensor | dict[str, list[torch.Tensor]]:
        """Eval: the eight 256-d BNNeck features concatenated, ``[B, 2048]``, in the order of :attr:`HEADS`.

        Train: ``{"logits": [8 x [B, num_classes]], "features": [8 x [B, D]]}``, lists in the
        order of :attr:`HEADS` (fast-reid's MGN loss takes the stripes' triplet features
        concatenated per branch: b21+b22 and b31+b32+b33).
        """
        shared = self.backbone(x)
        global_map = self.b1(shared)
        halves_map = self.b2(shared)
        thirds_map = self.b3(shared)
        # torch.chunk as upstream: a 16-row map gives thirds of 6, 6 and 4 rows.
        halves = torch.chunk(halves_map, 2, dim=2)
        thirds = torch.chunk(thirds_map, 3, dim=2)
        if len(halves) != 2 or len(thirds) != 3:
            raise ValueError(
                f"MGN cuts its {thirds_map.shape[2]}-row feature map into {len(thirds)} stripes instead of 3 "
                f"(input height {x.shape[2]}); use taller images, e.g. the trained 256x128"
            )
        maps = (global_map, halves_map, thirds_map, *halves, *thirds)
        if self.layout == "pool_reduce":
            maps = tuple(getattr(self, name)(m) for name, m in zip(self.POOLS, maps))
        outputs = [getattr(self, name)(m) for name, m in zip(self.HEADS, maps)]
        if not self.training:
            return torch.cat(outputs, dim=1)
        return {"logits": [o["logits"] for o in outputs], "features": [o["features"] for o in outputs]}
