"""TransReID's vision transformer trunk: overlapping patches, side information, timm blocks.

The parameter names are those of TransReID's ``vit_pytorch.TransReID`` (``cls_token``,
``pos_embed``, ``sie_embed``, ``patch_embed.proj``, ``blocks.N``, ``norm``, ``fc``), so the
published checkpoints load without renaming. The transformer blocks are timm's, whose names
(``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``) are the same.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import Block
from torch import nn

#: LayerNorm as TransReID configures it for ViT-B/16 (timm's ViT default epsilon).
LayerNorm = partial(nn.LayerNorm, eps=1e-6)


def _tracing() -> bool:
    # A data-dependent check cannot run inside torch.jit.trace, torch.compile or torch.export
    # (ONNX export goes through them); the graph then indexes without it.
    compiling = getattr(torch.compiler, "is_compiling", None)  # torch >= 2.3
    return torch.jit.is_tracing() or bool(compiling and compiling())


def patch_grid(img_size: tuple[int, int], patch_size: int, stride: int) -> tuple[int, int]:
    """(rows, columns) of the patch tokens a ``patch_size`` convolution with ``stride`` makes."""
    h, w = img_size
    if h < patch_size or w < patch_size:
        raise ValueError(f"img_size {tuple(img_size)} is smaller than one {patch_size}x{patch_size} patch")
    return (h - patch_size) // stride + 1, (w - patch_size) // stride + 1


def reshape_tokens(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Turn transformer tokens ``[B, P + H*W, C]`` into a feature map ``[B, C, H, W]``.

    The leading ``P`` tokens (the class token) are dropped. This is the reshape transform
    Grad-CAM needs on a ViT layer, e.g. ``reshape_transform=model.reshape_transform``.
    """
    rows, cols = grid
    extra = tokens.shape[1] - rows * cols if tokens.dim() == 3 else -1
    if extra < 0:
        raise ValueError(f"cannot lay out tokens of shape {tuple(tokens.shape)} on a {rows}x{cols} grid")
    patches = tokens[:, extra:]
    return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], rows, cols)


class PatchEmbed(nn.Module):
    """Patchify with a strided convolution; a stride below the patch size makes patches overlap."""

    def __init__(self, img_size: tuple[int, int], patch_size: int, stride: int, embed_dim: int) -> None:
        super().__init__()
        self.img_size = tuple(img_size)
        self.grid = patch_grid(self.img_size, patch_size, stride)
        self.num_patches = self.grid[0] * self.grid[1]
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=stride)
        fan_out = patch_size * patch_size * embed_dim
        nn.init.normal_(self.proj.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(
                f"input is {x.shape[-2]}x{x.shape[-1]} but the model was built for "
                f"{self.img_size[0]}x{self.img_size[1]}; build it with img_size=({x.shape[-2]}, {x.shape[-1]}) "
                "to interpolate the position embeddings"
            )
        return self.proj(x).flatten(2).transpose(1, 2)


class TransReIDViT(nn.Module):
    """ViT-B/16 with TransReID's overlapping patch embedding and camera SIE.

    Args:
        img_size: (H, W) of the input; sets the patch grid and the size of ``pos_embed``.
        patch_size: side of the square patches (16).
        stride: patch stride (16: plain ViT patches, 12: TransReID's overlapping patches).
        embed_dim, depth, num_heads, mlp_ratio: transformer sizes (ViT-B: 768, 12, 12, 4).
        camera_num: rows of the camera side-information table ``sie_embed``; 0 builds none.
        sie_coef: weight of the camera embedding added to every token (TransReID's lambda).
        drop_rate, attn_drop_rate: dropout on the tokens and on the attention weights.
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 at the first.
        local_feature: stop before the last block and the final norm and return every token
            (the jigsaw branch copies the last block); otherwise return the normed class token.
        imagenet_classes: rows of the unused ImageNet head ``fc`` the checkpoints carry.
    """

    def __init__(
        self,
        img_size: tuple[int, int] = (256, 128),
        patch_size: int = 16,
        stride: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        camera_num: int = 0,
        sie_coef: float = 3.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        local_feature: bool = False,
        imagenet_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.local_feature = local_feature
        self.sie_coef = sie_coef
        self.camera_num = camera_num
        self.patch_embed = PatchEmbed(img_size, patch_size, stride, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        if camera_num > 0:
            self.sie_embed = nn.Parameter(torch.zeros(camera_num, 1, embed_dim))
            nn.init.normal_(self.sie_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
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
        self.norm = LayerNorm(embed_dim)
        # ImageNet head of the pretrained ViT: unused for re-id, kept because the checkpoints carry it.
        self.fc = nn.Linear(embed_dim, imagenet_classes)
        # TransReID draws these from N(0, 0.02) truncated at +-2, i.e. at 100 sigma: a plain
        # normal draw is the same distribution and much faster.
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch tokens."""
        return self.patch_embed.grid

    def camera_embedding(self, camids: torch.Tensor | None) -> torch.Tensor | None:
        """The SIE term ``[B or 1, 1, C]`` for ``camids``; for ``None``, the mean over cameras."""
        if self.camera_num == 0:
            return None
        if camids is None:
            return self.sie_coef * self.sie_embed.mean(0, keepdim=True)
        if not _tracing() and camids.numel() and (int(camids.min()) < 0 or int(camids.max()) >= self.camera_num):
            raise ValueError(
                f"camids must be zero-based indices below camera_num={self.camera_num}, "
                f"got values in [{int(camids.min())}, {int(camids.max())}]"
            )
        return self.sie_coef * self.sie_embed[camids]

    def forward(self, x: torch.Tensor, camids: torch.Tensor | None = None) -> torch.Tensor:
        """Class token ``[B, C]`` after the final norm, or all tokens before the last block."""
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        sie = self.camera_embedding(camids)
        if sie is not None:
            x = x + sie
        x = self.pos_drop(x)
        if self.local_feature:
            for blk in self.blocks[:-1]:
                x = blk(x)
            return x
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]

    def resize_pos_embed(self, pos_embed: torch.Tensor, old_grid: tuple[int, int]) -> torch.Tensor:
        """``pos_embed`` of a checkpoint made for ``old_grid``, interpolated to this model's grid."""
        return resample_abs_pos_embed(
            pos_embed,
            new_size=list(self.grid),
            old_size=list(old_grid),
            num_prefix_tokens=1,
            interpolation="bilinear",
            antialias=False,
        )
