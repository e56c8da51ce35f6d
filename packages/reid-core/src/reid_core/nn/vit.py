"""Pieces of the vision transformer that TransReID's code base passes on to its descendants.

TransReID-SSL and PASS-reID both build on TransReID's ``vit_pytorch.TransReID``: a strided
convolution cuts the image into patches, timm-style pre-norm blocks run over the tokens, and a
final LayerNorm (epsilon 1e-6) closes the trunk. Only the tokens differ between them (PASS adds
part tokens), so the token layout stays in each family and the pieces here are the common ones.
Parameter names are the upstream ones: ``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv,
attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``.

The blocks are timm's, and reid-core does not depend on timm: import this module as
``reid_core.nn.vit`` from a family that declares timm (``reid_core.nn`` does not re-export it).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import Block
from torch import nn

log = logging.getLogger("reid_core")

#: LayerNorm as TransReID's ViTs configure it (timm's ViT epsilon).
LayerNorm = partial(nn.LayerNorm, eps=1e-6)


def patch_grid(img_size: tuple[int, int], patch_size: int, stride: int) -> tuple[int, int]:
    """(rows, columns) of the tokens a ``patch_size`` convolution with ``stride`` makes of ``img_size``."""
    h, w = img_size
    if h < patch_size or w < patch_size:
        raise ValueError(f"img_size {tuple(img_size)} is smaller than one {patch_size}x{patch_size} patch")
    return (h - patch_size) // stride + 1, (w - patch_size) // stride + 1


def reshape_tokens(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Lay transformer tokens ``[B, P + H*W, C]`` out as a map ``[B, C, H, W]``.

    The leading ``P`` tokens (class, part tokens) are dropped. This is the reshape transform
    Grad-CAM needs on a ViT layer.
    """
    rows, cols = grid
    extra = tokens.shape[1] - rows * cols if tokens.dim() == 3 else -1
    if extra < 0:
        raise ValueError(f"cannot lay out tokens of shape {tuple(tokens.shape)} on a {rows}x{cols} grid")
    patches = tokens[:, extra:]
    return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], rows, cols)


def resize_grid_embed(
    pos_embed: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int], prefix_tokens: int
) -> torch.Tensor:
    """Position embeddings ``[1, prefix + rows * cols, C]`` made for ``old_grid``, resized to ``new_grid``.

    The grid part is interpolated bilinearly (corners not aligned), as TransReID's code does when
    it loads weights made for another input size; the ``prefix_tokens`` leading rows are kept.
    """
    return resample_abs_pos_embed(
        pos_embed,
        new_size=list(new_grid),
        old_size=list(old_grid),
        num_prefix_tokens=prefix_tokens,
        interpolation="bilinear",
        antialias=False,
    )


def grid_of(tokens: int, candidates: tuple[tuple[int, int], ...]) -> tuple[int, int] | None:
    """The first of ``candidates`` (rows, columns) that has ``tokens`` cells, else ``None``."""
    return next((g for g in candidates if g[0] * g[1] == tokens), None)


class PatchEmbed(nn.Module):
    """Patchify with one strided convolution ``proj``; a stride below the patch size overlaps patches.

    Args:
        img_size: (H, W) the model is built for; other sizes are refused (the position
            embeddings fit one grid).
        patch_size, stride: kernel and stride of ``proj``.
        embed_dim: channels of the tokens.
        in_chans: channels ``proj`` sees.
    """

    def __init__(
        self, img_size: tuple[int, int], patch_size: int, stride: int, embed_dim: int, in_chans: int = 3
    ) -> None:
        super().__init__()
        self.img_size = tuple(img_size)
        self.grid = patch_grid(self.img_size, patch_size, stride)
        self.num_patches = self.grid[0] * self.grid[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=stride)
        nn.init.normal_(self.proj.weight, 0.0, math.sqrt(2.0 / (patch_size * patch_size * embed_dim)))

    def check_size(self, x: torch.Tensor) -> None:
        """Refuse an input of another size than the one the model was built for."""
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(
                f"input is {x.shape[-2]}x{x.shape[-1]} but the model was built for "
                f"{self.img_size[0]}x{self.img_size[1]}; build it with img_size=({x.shape[-2]}, {x.shape[-1]}) "
                "to interpolate the position embeddings"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_size(x)
        return self.proj(x).flatten(2).transpose(1, 2)


def transformer_blocks(
    embed_dim: int,
    depth: int,
    num_heads: int,
    mlp_ratio: float = 4.0,
    drop_rate: float = 0.0,
    attn_drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
) -> nn.ModuleList:
    """``depth`` pre-norm blocks (qkv bias, exact GELU, LayerNorm eps 1e-6).

    Stochastic depth rises linearly from 0 at the first block to ``drop_path_rate`` at the last.
    """
    rates = torch.linspace(0, drop_path_rate, depth).tolist()
    return nn.ModuleList(
        Block(
            embed_dim,
            num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=True,
            proj_drop=drop_rate,
            attn_drop=attn_drop_rate,
            drop_path=rate,
            norm_layer=LayerNorm,
        )
        for rate in rates
    )


def init_vit_weights(module: nn.Module) -> None:
    """TransReID's initialization: linear weights N(0, 0.02) and zero biases, LayerNorms at identity.

    TransReID draws from N(0, 0.02) truncated at +-2, i.e. at 100 sigma: a plain normal draw is
    the same distribution and much faster.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def dino_backbone_state(checkpoint: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The ViT trunk's tensors from a self-supervised checkpoint, as TransReID's loaders read them.

    Accepts a plain state dict, one nested under ``model`` or ``state_dict``, or a DINO training
    checkpoint, whose ``teacher`` network's ``backbone.*`` tensors are taken (``module.`` prefixes
    removed). The self-supervised projection head (``head``), distillation token (``dist``) and
    ``pre_logits`` are left out, as upstream leaves them out.
    """
    sd: Mapping[str, object] = checkpoint
    for key in ("model", "state_dict"):
        inner = sd.get(key)
        if isinstance(inner, Mapping):
            sd = inner
    teacher = sd.get("teacher")
    if isinstance(teacher, Mapping):
        sd = {
            k.removeprefix("module.").removeprefix("backbone."): v
            for k, v in teacher.items()
            if k.removeprefix("module.").startswith("backbone.")
        }
    out = {}
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            continue
        if any(part in key for part in ("head", "dist", "pre_logits")):
            continue
        out[key.removeprefix("module.")] = value
    return out


def pretrained_records(package: str) -> dict[str, dict[str, Any]]:
    """file name -> record (``url``, ``sha256``, ``models``, ...) under ``pretrained:`` in ``package``'s catalog."""
    import yaml

    text = resources.files(package).joinpath("catalog.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text).get("pretrained") or {})


def trunk_file(package: str, model: str, weights: str | os.PathLike, keyword: str, what: str) -> Path:
    """The file ``weights`` names: ``keyword`` fetches ``model``'s catalogued trunk through the cache, else a path."""
    if str(weights) != keyword:
        return Path(weights).expanduser()
    from ..errors import RegistryError
    from ..hub import fetch_file

    for file_name, rec in pretrained_records(package).items():
        if model in rec.get("models", ()):
            return fetch_file(rec["url"], sha256=rec.get("sha256"), file_name=file_name, what=what)
    raise RegistryError(f"{package}/catalog.yaml records no pretrained trunk for {model}")


def load_pretrained_trunk(
    trunk: nn.Module,
    path: str | os.PathLike,
    fit_pos_embed: Callable[[torch.Tensor], torch.Tensor],
    what: str,
    optional: tuple[str, ...] = ("fc.weight", "fc.bias"),
) -> None:
    """Fill ``trunk`` from a self-supervised checkpoint file (see :func:`dino_backbone_state`).

    ``fit_pos_embed`` resizes the file's ``pos_embed`` to the trunk's grid. A file that leaves a
    trunk tensor other than ``optional`` ones unset (by default the ImageNet head TransReID adds),
    or whose shapes do not fit, is refused: a half-initialized trunk would train silently worse.
    Tensors the trunk has no place for are logged and ignored, as upstream ignores them.
    """
    from ..checkpoint import load_weights, read_checkpoint
    from ..errors import CheckpointError

    state = dino_backbone_state(read_checkpoint(path))
    if "pos_embed" in state:
        state["pos_embed"] = fit_pos_embed(state["pos_embed"])
    report = load_weights(trunk, state, strict=False)
    missing = [k for k in report.missing if k not in optional]
    if report.mismatched or missing:
        raise CheckpointError(f"{path} is not a pretrained trunk of {what}:\n{report.describe()}")
    if report.unexpected:
        log.warning("%s: %d tensors not used by the trunk of %s: %s", path, len(report.unexpected), what,
                    ", ".join(report.unexpected[:10]))
