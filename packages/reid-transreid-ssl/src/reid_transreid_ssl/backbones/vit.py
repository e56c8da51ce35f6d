"""TransReID-SSL's ViT trunk: TransReID's ViT at patch stride 16, optionally behind the ICS stem.

Parameter names are those of TransReID-SSL's ``vit_pytorch.TransReID`` (``cls_token``,
``pos_embed``, ``patch_embed.conv`` / ``patch_embed.proj``, ``blocks.N``, ``norm``, ``fc``), so the
published checkpoints load without renaming.
"""

from __future__ import annotations

import torch
from reid_core.nn import IBN
from reid_core.nn.vit import LayerNorm, PatchEmbed, init_vit_weights, patch_grid, resize_grid_embed, transformer_blocks
from torch import nn

#: Channels of the ICS stem.
STEM_DIM = 64
#: Downsampling of the ICS stem (its first convolution).
STEM_STRIDE = 2


class ICSPatchEmbed(PatchEmbed):
    """IBN-based convolution stem (ICS), then a patch projection on the stem's map.

    ``conv`` is conv 7x7/2 -> IBN -> ReLU -> conv 3x3 -> IBN -> ReLU -> conv 3x3 -> BN -> ReLU, 64
    channels throughout (IBN: instance norm on the first 32 channels, batch norm on the rest).
    Because the stem halves the image, ``proj`` takes ``patch_size / 2`` patches at ``stride / 2``:
    the token grid is the plain ViT's.
    """

    def __init__(self, img_size: tuple[int, int], patch_size: int, stride: int, embed_dim: int) -> None:
        super().__init__(img_size, patch_size // STEM_STRIDE, stride // STEM_STRIDE, embed_dim, in_chans=STEM_DIM)
        # The token grid is counted on the image with the full patch, as upstream sizes pos_embed.
        self.grid = patch_grid(self.img_size, patch_size, stride)
        self.num_patches = self.grid[0] * self.grid[1]
        self.conv = nn.Sequential(
            nn.Conv2d(3, STEM_DIM, kernel_size=7, stride=STEM_STRIDE, padding=3, bias=False),
            IBN(STEM_DIM),
            nn.ReLU(inplace=True),
            nn.Conv2d(STEM_DIM, STEM_DIM, kernel_size=3, stride=1, padding=1, bias=False),
            IBN(STEM_DIM),
            nn.ReLU(inplace=True),
            nn.Conv2d(STEM_DIM, STEM_DIM, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(STEM_DIM),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_size(x)
        return self.proj(self.conv(x)).flatten(2).transpose(1, 2)


class SSLViT(nn.Module):
    """ViT trunk of TransReID-SSL: class token plus patch tokens, the normed class token out.

    Args:
        img_size: (H, W) of the input; sets the patch grid and the size of ``pos_embed``.
        embed_dim, depth, num_heads: transformer sizes (ViT-S: 384, 12, 6; ViT-B: 768, 12, 12).
        ics: put the IBN-based convolution stem before the patch projection.
        patch_size, stride: patch side and stride (16, 16: TransReID-SSL never overlaps patches).
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
        ics: bool = False,
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
        embed = ICSPatchEmbed if ics else PatchEmbed
        self.patch_embed = embed(img_size, patch_size, stride, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.blocks = transformer_blocks(
            embed_dim, depth, num_heads, mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate
        )
        self.norm = LayerNorm(embed_dim)
        # ImageNet head of TransReID's ViT: never used for re-id, kept because the checkpoints carry it.
        self.fc = nn.Linear(embed_dim, imagenet_classes)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)
        init_vit_weights(self)

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch tokens."""
        return self.patch_embed.grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The class token ``[B, C]`` after the final norm."""
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.pos_drop(x + self.pos_embed)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]

    def resize_pos_embed(self, pos_embed: torch.Tensor, old_grid: tuple[int, int]) -> torch.Tensor:
        """``pos_embed`` (class slot first) made for ``old_grid``, interpolated to this trunk's grid."""
        return resize_grid_embed(pos_embed, old_grid, self.grid, prefix_tokens=1)
