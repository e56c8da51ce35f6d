"""The heads of ABD-Net's two branches: the global branch and the attentive (ABD) branch.

Each head takes the map of its own copy of the last trunk stage and returns a
:class:`BranchOutput`: the features it contributes to the eval embedding (also the triplet
features), their classifier logits, and the intermediate maps the orthogonal-feature
regularizer looks at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import nn

from .attention import DANetHead


@dataclasses.dataclass
class BranchOutput:
    """What one branch head produces."""

    features: list[torch.Tensor]  #: embedding parts ``[B, D]`` (eval output and triplet inputs)
    logits: list[torch.Tensor]  #: one classifier output per part (train mode only, else empty)
    fmaps: dict[str, list[torch.Tensor]] = dataclasses.field(default_factory=dict)  #: OF positions


def init_head(module: nn.Module) -> None:
    """ABD-Net's initialization of the layers it adds on top of the trunk."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class GlobalBranch(nn.Module):
    """Average pooling, then ``fc`` (Linear - BN - ReLU - dropout) to ``output_dim``, then ``classifier``."""

    def __init__(self, input_dim: int, output_dim: int, num_classes: int, dropout: float | None = 0.5) -> None:
        super().__init__()
        self.output_dim = output_dim
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        layers: list[nn.Module] = [nn.Linear(input_dim, output_dim), nn.BatchNorm1d(output_dim), nn.ReLU(inplace=True)]
        if dropout is not None:
            layers.append(nn.Dropout(p=dropout))
        self.fc = nn.Sequential(*layers)
        self.classifier = nn.Linear(output_dim, num_classes)
        init_head(self)

    def forward(self, x: torch.Tensor) -> BranchOutput:
        v = self.fc(self.avgpool(x).flatten(1))
        logits = [self.classifier(v)] if self.training else []
        return BranchOutput(features=[v], logits=logits)


class ABDBranch(nn.Module):
    """The attentive-but-diverse branch.

    A 1x1 ``reduction`` to ``output_dim`` channels; the map is cut into ``num_parts`` horizontal
    stripes, and on each stripe the ``before`` head (no attention) and the CAM/PAM heads run side
    by side; their sum goes through ``sum_conv`` (2-D dropout, 1x1 conv), is average-pooled into
    the stripe's feature and classified by ``classifiers[p]``. Without attention modules the
    stripe is pooled directly (the heads are still built, as upstream does).
    """

    def __init__(self, input_dim: int, output_dim: int, num_classes: int, num_parts: int = 2,
                 attentions: Sequence[str] = ("cam", "pam")) -> None:
        super().__init__()
        unknown = set(attentions) - {"cam", "pam"}
        if unknown:
            raise ValueError(f"abd_dan takes 'cam' and/or 'pam', got {sorted(unknown)}")
        self.output_dim = output_dim
        self.part_num = num_parts
        self.reduction = nn.Sequential(
            nn.Conv2d(input_dim, output_dim, kernel_size=1, bias=False),
            nn.BatchNorm2d(output_dim),
            nn.ReLU(inplace=True),
        )
        self.before_module = DANetHead(output_dim, output_dim, "identity")
        # Fixed order; upstream iterates a set, which only changes the summation order.
        self.head_names = ["before_module"]
        for name in ("cam", "pam"):
            if name in attentions:
                setattr(self, f"{name}_module", DANetHead(output_dim, output_dim, name))
                self.head_names.append(f"{name}_module")
        self.use_dan = len(self.head_names) > 1
        self.sum_conv = nn.Sequential(nn.Dropout2d(0.1), nn.Conv2d(output_dim, output_dim, kernel_size=1))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifiers = nn.ModuleList(nn.Linear(output_dim, num_classes) for _ in range(num_parts))
        init_head(self)

    def forward(self, x: torch.Tensor) -> BranchOutput:
        x = self.reduction(x)
        height = x.shape[2]
        if height % self.part_num:
            raise ValueError(
                f"ABD branch: the feature map height {height} is not a multiple of abd_np={self.part_num}; "
                "use an input height that is a multiple of 16 * abd_np"
            )
        out = BranchOutput(features=[], logits=[], fmaps={})
        stripe = height // self.part_num
        for p in range(self.part_num):
            part = x[:, :, p * stripe:(p + 1) * stripe, :]
            if self.use_dan:
                summed = 0
                for name in self.head_names:
                    y = getattr(self, name)(part)
                    out.fmaps.setdefault(name.split("_")[0], []).append(y)
                    summed = summed + y
                after = self.sum_conv(summed)
            else:
                after = part
                out.fmaps.setdefault("before", []).append(after)
            out.fmaps.setdefault("after", []).append(after)
            v = self.avgpool(after).flatten(1)
            out.features.append(v)
            if self.training:
                out.logits.append(self.classifiers[p](v))
        return out
