"""The LUPerson part-aware self-supervised trunks PASS's recipes start from.

``catalog.yaml`` records them under ``pretrained:``, by the file names upstream's run scripts
give (``MODEL.PRETRAIN_PATH``), each with its URL and the models that start from it.
``create_model(name, backbone_weights="lup")`` fetches the model's file through the weights cache
and loads it into the trunk ``base``; ``backbone_weights=PATH`` loads a local file instead.
"""

from __future__ import annotations

import os
from typing import Any

from reid_core.nn import vit

from .meta_arch import PASS, fit_pos_embed

#: ``backbone_weights`` value that names the catalogued LUPerson file of the model.
LUPERSON = "lup"


def pretrained_records() -> dict[str, dict[str, Any]]:
    """file name -> record (``url``, ``sha256``, ``models``, ...) of the catalogued pretrained trunks."""
    return vit.pretrained_records(__package__)


def load_backbone_weights(model: PASS, weights: str | os.PathLike, name: str) -> None:
    """Fill ``model.base`` from ``weights``: ``"lup"`` (the catalogued file of ``name``) or a path.

    The patch position embeddings are interpolated to the model's grid (PASS pretrained on
    LUPerson at 256x128). A file that leaves trunk tensors unset, or whose shapes do not fit, is refused.
    """
    path = vit.trunk_file(__package__, name, weights, LUPERSON, f"LUPerson pretrained trunk of {name}")
    vit.load_pretrained_trunk(model.base, path, lambda pos: fit_pos_embed(model.base, pos, f"{path}: pos_embed"), name)
