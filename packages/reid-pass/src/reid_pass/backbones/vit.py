"""PASS's ViT trunk: TransReID's ViT at patch stride 16 with three learnable part tokens.

Parameter names are those of PASS-reID's ``vit_pytorch.TransReID`` (``cls_token``,
``part_token1..3``, ``cls_pos``, ``part1_pos..part3_pos``, ``pos_embed``, ``patch_embed.proj``,
``blocks.N``, ``norm``, ``fc``), so the published checkpoints load without renaming.
"""

from __future__ import annotations

import torch
from reid_core.nn.vit import LayerNorm, PatchEmbed, init_vit_weights, resize_grid_embed, transformer_blocks
from torch import nn

#: Part tokens after the class token.
PARTS = 3


class PASSViT(nn.Module):
    """ViT trunk of PASS: tokens ``[cls, part1, part2, part3, patch_1 .. patch_N]``.

    Each leading token has its own position embedding (``cls_pos``, ``partK_pos``); ``pos_embed``
    covers the patches only. The forward pass returns the four leading tokens after the final norm.

    Args:
        img_size: (H, W) of the input; sets the patch grid and the size of ``pos_embed``.
        embed_dim, depth, num_heads: transformer sizes (ViT-S: 384, 12, 6; ViT-B: 768, 12, 12).
        patch_size, stride: patch side and stride (16, 16).
        drop_rate, attn_drop_rate: dropout on the tokens and on the attention weights.
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 at the first.
        imagenet_classes: rows of the unused ImageNet head ``fc`` the checkpoints carry.
    """

    def __init__(
        self,
        img_size: tuple[int, int] = (256, 128),
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        *,
        patch_size: int = 16,
        stride: int = 16,
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        imagenet_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed(img_size, patch_size, stride, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        for k in range(1, PARTS + 1):
            self.register_parameter(f"part_token{k}", nn.Parameter(torch.zeros(1, 1, embed_dim)))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, embed_dim))
        for k in range(1, PARTS + 1):
            self.register_parameter(f"part{k}_pos", nn.Parameter(torch.zeros(1, 1, embed_dim)))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.blocks = transformer_blocks(
            embed_dim, depth, num_heads, mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate
        )
        self.norm = LayerNorm(embed_dim)
        # ImageNet head of TransReID's ViT: never used for re-id, kept because the checkpoints carry it.
        self.fc = nn.Linear(embed_dim, imagenet_classes)
        for p in (self.cls_token, self.pos_embed, *self.leading_tokens(), *self.leading_pos()):
            nn.init.normal_(p, std=0.02)
        init_vit_weights(self)

    def leading_tokens(self) -> list[nn.Parameter]:
        """The learned tokens before the patches: the class token, then the part tokens."""
        return [self.cls_token] + [getattr(self, f"part_token{k}") for k in range(1, PARTS + 1)]

    def leading_pos(self) -> list[nn.Parameter]:
        """Position embeddings of the leading tokens, in token order."""
        return [self.cls_pos] + [getattr(self, f"part{k}_pos") for k in range(1, PARTS + 1)]

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch tokens."""
        return self.patch_embed.grid

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The class token and the three part tokens, each ``[B, C]``, after the final norm."""
        x = self.patch_embed(x)
        b = x.shape[0]
        x = torch.cat([t.expand(b, -1, -1) for t in self.leading_tokens()] + [x], dim=1)
        x = self.pos_drop(x + torch.cat(self.leading_pos() + [self.pos_embed], dim=1))
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return tuple(x[:, i] for i in range(PARTS + 1))

    def resize_pos_embed(self, pos_embed: torch.Tensor, old_grid: tuple[int, int]) -> torch.Tensor:
        """Patch position embeddings (no leading slots) made for ``old_grid``, interpolated to this grid."""
        return resize_grid_embed(pos_embed, old_grid, self.grid, prefix_tokens=0)
