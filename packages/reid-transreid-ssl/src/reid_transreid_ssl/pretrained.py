"""The LUPerson self-supervised trunks TransReID-SSL's recipes start from.

``catalog.yaml`` records them under ``pretrained:``, by the file names upstream's configs give
(``MODEL.PRETRAIN_PATH``), each with its URL and the models that start from it.
``create_model(name, backbone_weights="lup")`` fetches the model's file through the weights cache
and loads it into the trunk ``base``; ``backbone_weights=PATH`` loads a local file instead.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from reid_core.errors import RegistryError
from reid_core.hub import fetch_file
from reid_core.nn.vit import load_pretrained_trunk

from .meta_arch import TransReIDSSL, fit_pos_embed

#: ``backbone_weights`` value that names the catalogued LUPerson file of the model.
LUPERSON = "lup"


def pretrained_records() -> dict[str, dict[str, Any]]:
    """file name -> record (``url``, ``sha256``, ``models``, ...) of the catalogued pretrained trunks."""
    text = resources.files(__package__).joinpath("catalog.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text).get("pretrained") or {})


def pretrained_for(model: str) -> tuple[str, dict[str, Any]]:
    """``(file name, record)`` of the LUPerson trunk ``model``'s recipe starts from."""
    for file_name, rec in pretrained_records().items():
        if model in rec.get("models", ()):
            return file_name, rec
    raise RegistryError(f"reid_transreid_ssl/catalog.yaml records no pretrained trunk for {model}")


def load_backbone_weights(model: TransReIDSSL, weights: str | os.PathLike, name: str) -> None:
    """Fill ``model.base`` from ``weights``: ``"lup"`` (the catalogued file of ``name``) or a path.

    The position embeddings are interpolated to the model's grid (LUPerson pretraining ran at
    256x128). A file that leaves trunk tensors unset, or whose shapes do not fit, is refused.
    """
    if str(weights) == LUPERSON:
        file_name, rec = pretrained_for(name)
        path = fetch_file(rec["url"], sha256=rec.get("sha256"), file_name=file_name,
                          what=f"LUPerson pretrained trunk of {name}")
    else:
        path = Path(weights).expanduser()
    load_pretrained_trunk(model.base, path, lambda pos: fit_pos_embed(model.base, pos, f"{path}: pos_embed"), name)
