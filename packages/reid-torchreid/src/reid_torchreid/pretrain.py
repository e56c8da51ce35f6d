"""Pretrained starts of the ``*_dpr`` models: deep-person-reid builds them with
``pretrained=True`` (its default ``model.pretrained``), and ``init_pretrained_weights`` copies
every ImageNet key whose name and shape match the model.

Those files are the same networks trained with 1000 classes, so every key matches except the
classifier, which keeps its initialisation. MLFN's file is on mega.nz and deep-person-reid only
warns that it must be downloaded by hand, so upstream's MLFN effectively trains from scratch.
"""

from __future__ import annotations

from reid_core.backbone_weights import BackboneSpec
from torch import nn


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    if not name.endswith("_dpr"):
        return None
    weights = name[: -len("_dpr")] + "_imagenet"
    return BackboneSpec(weights, trunk=("*",), drop=("classifier.*",), fresh=("classifier.*",))
