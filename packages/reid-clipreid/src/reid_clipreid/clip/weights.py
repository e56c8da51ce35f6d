"""OpenAI's CLIP weights as CLIP-ReID's training start: reading the files and mapping their keys.

OpenAI publishes TorchScript archives (``RN50.pt``, ``ViT-B-16.pt``), which ``torch.load`` with
``weights_only=True`` refuses; ``torch.jit.load`` reads them without unpickling Python objects.
Plain state dicts (``.pt``/``.pth``/``.safetensors``) go through :func:`reid_core.read_checkpoint`.

Key mapping, from CLIP's state dict onto :class:`reid_clipreid.CLIPReID`:

==============================  ==========================================  =================
CLIP                            CLIP-ReID                                   note
==============================  ==========================================  =================
``visual.*``                    ``image_encoder.*``                         position embeddings resized
``transformer.*``               ``text_encoder.transformer.*``              stages 1 and 2
``positional_embedding``        ``text_encoder.positional_embedding``
``ln_final.*``                  ``text_encoder.ln_final.*``
``text_projection``             ``text_encoder.text_projection``
``token_embedding.weight``      ``prompt_learner.token_prefix`` / ``_suffix``  the prompt's embeddings
``logit_scale``, sizes          (not used)
==============================  ==========================================  =================

The position embeddings are resized as CLIP-ReID does when it builds from CLIP: the first token
is kept and the 14x14 (ViT-B/16) or 7x7 (RN50) grid is resized bilinearly to this model's grid.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from reid_core.checkpoint import read_checkpoint, unwrap_state_dict
from reid_core.errors import CheckpointError

from .vision import resize_grid_embedding

#: CLIP keys that carry no weights CLIP-ReID uses.
IGNORED = ("logit_scale", "input_resolution", "context_length", "vocab_size")
_TEXT = {"positional_embedding": "text_encoder.positional_embedding", "text_projection": "text_encoder.text_projection"}


def read_clip_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """CLIP's state dict from one of OpenAI's TorchScript files or from a plain checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"CLIP weights not found: {path}")
    if zipfile.is_zipfile(path) and _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated; OpenAI's files are TorchScript
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:
            raise CheckpointError(f"cannot read the TorchScript archive {path}: {type(e).__name__}: {e}") from e
        return {k: v.detach() for k, v in module.state_dict().items()}
    sd, _ = unwrap_state_dict(read_checkpoint(path))
    return sd


def _is_torchscript(path: Path) -> bool:
    with zipfile.ZipFile(path) as z:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in z.namelist())


def map_clip_state_dict(clip: Mapping[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """CLIP's keys renamed (and position embeddings resized) for ``model``; only the parts it has.

    Raises :class:`reid_core.errors.CheckpointError` when the file is not the CLIP model the
    encoder was built as (a key the model needs is missing, or a shape differs).
    """
    own = model.state_dict()
    has_text = any(k.startswith("text_encoder.") for k in own)
    out: dict[str, torch.Tensor] = {}
    for key, value in clip.items():
        if key.startswith("visual."):
            out["image_encoder." + key[len("visual."):]] = value
        elif not has_text or key in IGNORED:
            continue
        elif key.startswith(("transformer.", "ln_final.")):
            out["text_encoder." + key] = value
        elif key in _TEXT:
            out[_TEXT[key]] = value
    for key in ("image_encoder.positional_embedding", "image_encoder.attnpool.positional_embedding"):
        if key in out and key in own and out[key].shape != own[key].shape:
            out[key] = resize_grid_embedding(out[key].float(), model.image_encoder.grid)
    if has_text:
        if "token_embedding.weight" not in clip:
            raise CheckpointError("the CLIP state dict has no token_embedding.weight, which the prompts are made of")
        prompt = model.prompt_learner
        saved = (prompt.token_prefix.clone(), prompt.token_suffix.clone())
        prompt.set_token_embedding(clip["token_embedding.weight"].float())
        out["prompt_learner.token_prefix"] = prompt.token_prefix.clone()
        out["prompt_learner.token_suffix"] = prompt.token_suffix.clone()
        prompt.token_prefix.copy_(saved[0])
        prompt.token_suffix.copy_(saved[1])
    wanted = [k for k in own if k.startswith(("image_encoder.", "text_encoder.", "prompt_learner.token_"))]
    missing = [k for k in wanted if k not in out]
    wrong = [f"{k} {list(out[k].shape)} vs {list(own[k].shape)}"
             for k in wanted if k in out and out[k].shape != own[k].shape]
    if missing or wrong:
        raise CheckpointError(
            "the CLIP weights do not fit this encoder"
            + (f"; missing {len(missing)}: {', '.join(missing[:5])}" if missing else "")
            + (f"; shape mismatch {len(wrong)}: {', '.join(wrong[:5])}" if wrong else "")
        )
    return {k: v.float() for k, v in out.items() if k in own}


def load_clip_weights(model: torch.nn.Module, path: str | os.PathLike) -> int:
    """Load CLIP's weights from ``path`` into ``model``'s encoders (and prompt buffers); returns tensors loaded."""
    mapped = map_clip_state_dict(read_clip_state_dict(path), model)
    model.load_state_dict(mapped, strict=False)
    return len(mapped)
