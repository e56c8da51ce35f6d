"""Pretrained starts of the ``*_solider`` models: SOLIDER's LUPerson-trained Swin trunks.

SOLIDER-REID trains with ``MODEL.PRETRAIN_CHOICE 'self'`` from ``checkpoint_tea.pth``, the
teacher weights its ``convert_model.py`` extracts from a SOLIDER checkpoint; the trunk takes the
``backbone.``-prefixed keys. The SOLIDER checkpoints are catalogued as a manual step (convert
them with SOLIDER-REID's script, then put the result in the cache), because the conversion is
upstream's and the file layout could not be checked here.
"""

from __future__ import annotations

from reid_core.backbone_weights import BackboneSpec
from torch import nn


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    if not name.endswith("_solider"):
        return None
    size = name.split("_")[1]
    return BackboneSpec(f"solider_swin_{size}_lup", trunk=("base.*",), rename=(("backbone.", "base."),))
