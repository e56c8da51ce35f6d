"""Converting fast-reid's own release checkpoints (MODEL_ZOO, release v0.1.1) to today's key names.

Those files were written by a fast-reid older than the one the seed's models follow. Their heads
(``heads``, and MGN's ``b*_head``) use other names (``*.bnneck.*`` for the BNNeck,
``*.classifier.weight`` for the classifier), and they carry the input normalization as
``pixel_mean``/``pixel_std`` buffers on the 0-255 scale (fast-reid issues #453, #486, #617).
Loading them without renaming silently drops the BNNeck, which costs about one point of mAP.

Renaming is not all: that fast-reid also built other networks. The catalog records of the release
files carry the builder options of that code (see :data:`reid_fastreid.models.CODE_OPTIONS`).

:data:`LEGACY_RENAMES` is the whole rename table; add a rule there when a release checkpoint turns
up with another old name. Whatever no rule covers is listed in full by a warning and, under strict
loading, makes :func:`reid_core.load_weights` fail with the keys on both sides.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import torch

#: Old key (regular expression on the whole key) -> today's key (``re`` replacement template).
LEGACY_RENAMES: dict[str, str] = {
    r"(heads|b\d+_head)\.bnneck\.(.+)": r"\1.bottleneck.0.\2",
    r"(heads|b\d+_head)\.classifier\.weight": r"\1.weight",
}

#: The normalization buffers fast-reid saved in its state dicts (images on the 0-255 scale).
PIXEL_KEYS = ("pixel_mean", "pixel_std")


def rename_legacy_keys(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Apply :data:`LEGACY_RENAMES`; return the renamed state dict and the old keys that were renamed."""
    rules = [(re.compile(old), new) for old, new in LEGACY_RENAMES.items()]
    out: dict[str, torch.Tensor] = {}
    renamed: list[str] = []
    for key, value in state_dict.items():
        new_key = key
        for pattern, template in rules:
            if pattern.fullmatch(key):
                new_key = pattern.sub(template, key)
                break
        if new_key != key:
            renamed.append(key)
            if new_key in state_dict:
                raise ValueError(f"checkpoint has both {key!r} and {new_key!r}; cannot tell which to load")
        out[new_key] = value
    return out, renamed


def pop_pixel_statistics(
    state_dict: dict[str, torch.Tensor],
) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
    """Remove ``pixel_mean``/``pixel_std`` from ``state_dict``; return them on the [0, 1] scale.

    Returns ``None`` when the checkpoint has neither. Shapes ``[3]`` and ``[1, 3, 1, 1]`` are
    accepted; anything else, or only one of the two, is an error naming the key.
    """
    present = [k for k in PIXEL_KEYS if k in state_dict]
    if not present:
        return None
    if len(present) == 1:
        raise ValueError(f"checkpoint has {present[0]!r} but not its partner; expected both {PIXEL_KEYS}")
    stats = []
    for key in PIXEL_KEYS:
        value = state_dict.pop(key)
        if value.numel() != 3:
            raise ValueError(f"checkpoint {key!r} has shape {list(value.shape)}; expected 3 values (RGB)")
        stats.append(tuple(float(v) / 255.0 for v in value.detach().float().flatten()))
    return stats[0], stats[1]


def report_unmapped(model_name: str, state_dict: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> None:
    """Warn with every key of a legacy checkpoint that neither a rule nor the model accounts for."""
    unmapped = sorted(k for k in state_dict if k not in own)
    missing = sorted(k for k in own if k not in state_dict)
    if not unmapped:
        return
    warnings.warn(
        f"{model_name}: {len(unmapped)} keys of this older fast-reid checkpoint match no rule of "
        f"reid_fastreid.convert.LEGACY_RENAMES and no parameter of the model: {', '.join(unmapped)}"
        + (f"; the model's keys left without a value: {', '.join(missing)}" if missing else ""),
        UserWarning,
        stacklevel=3,
    )
