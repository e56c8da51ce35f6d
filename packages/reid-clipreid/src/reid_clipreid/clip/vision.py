"""CLIP's image encoders as CLIP-ReID builds them: the ViT with a free patch stride, and the
ModifiedResNet whose last stage keeps stride 1.

Both return three things for one batch, as CLIP-ReID's encoders do: a feature of the stage before
last (used only by the triplet loss in training), the final feature, and its projection into
CLIP's joint image-text space.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .transformer import Transformer

PATCH = 16


def vit_grid(img_size: tuple[int, int], stride: int) -> tuple[int, int]:
    """(rows, columns) of ``PATCH``-sized patches taken every ``stride`` pixels, as CLIP-ReID counts them."""
    h, w = img_size
    if h < PATCH or w < PATCH:
        raise ValueError(f"img_size {tuple(img_size)} is smaller than one {PATCH}x{PATCH} patch")
    return (h - PATCH) // stride + 1, (w - PATCH) // stride + 1


def resize_grid_embedding(
    pos: torch.Tensor, grid: tuple[int, int], old_grid: tuple[int, int] | None = None
) -> torch.Tensor:
    """Position embeddings ``[1 + n, C]`` (a leading token, then a grid) resized bilinearly to ``grid``.

    ``old_grid`` defaults to a square; OpenAI's files have 14x14 (ViT-B/16) and 7x7 (RN50) grids.
    """
    token, cells = pos[:1], pos[1:]
    if old_grid is None:
        side = round(cells.shape[0] ** 0.5)
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != cells.shape[0]:
        raise ValueError(f"{cells.shape[0]} position embeddings do not form a {old_grid[0]}x{old_grid[1]} grid")
    if tuple(old_grid) == tuple(grid):
        return pos.clone()
    cells = cells.reshape(1, *old_grid, -1).permute(0, 3, 1, 2)
    cells = F.interpolate(cells.float(), size=tuple(grid), mode="bilinear", align_corners=False)
    cells = cells.permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1).to(pos.dtype)
    return torch.cat([token, cells], dim=0)


class VisionTransformer(nn.Module):
    """CLIP's ViT image encoder with CLIP-ReID's patch stride and camera embedding on the class token.

    Args:
        img_size: (H, W) the position embeddings are made for.
        stride: patch stride: 16 (no overlap) or 12 (CLIP-ReID's overlapping patches, "OLP").
        width, layers, heads: transformer size (768, 12, 12 for ViT-B/16).
        output_dim: size of the projection ``proj`` into the joint space (512).
    """

    def __init__(
        self,
        img_size: tuple[int, int] = (256, 128),
        stride: int = 16,
        width: int = 768,
        layers: int = 12,
        heads: int = 12,
        output_dim: int = 512,
    ) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError(f"the image encoder needs 2 blocks or more (training reads the one before last): {layers}")
        self.grid = vit_grid(img_size, stride)
        self.width = width
        self.output_dim = output_dim
        scale = width**-0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=PATCH, stride=stride, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(self.grid[0] * self.grid[1] + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def tokens(self, x: torch.Tensor, cv_embed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens after the block before last, and after the last block and ``ln_post``: ``[B, 1 + h*w, C]``."""
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        if cv_embed is not None:
            # CLIP-ReID adds the camera embedding to the class token only (TransReID: every token).
            cls = cls + cv_embed.to(x.dtype).unsqueeze(1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        blocks = self.transformer.resblocks
        before_last = blocks[:-1](x)
        return before_last, self.ln_post(blocks[-1](before_last))

    def forward(self, x: torch.Tensor, cv_embed: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """``(class token after the block before last [B, C], after ln_post [B, C], projected [B, 512])``."""
        before_last, last = self.tokens(x, cv_embed)
        cls = last[:, 0]
        return before_last[:, 0], cls, cls @ self.proj


class Bottleneck(nn.Module):
    """CLIP's anti-aliased bottleneck: every conv has stride 1; a strided block average-pools instead."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu3 = nn.ReLU(inplace=True)
        self.downsample = None
        if stride > 1 or inplanes != out:
            # The pool is named "-1" so that the conv and norm keep CLIP's keys downsample.0 / .1.
            self.downsample = nn.Sequential(
                OrderedDict([
                    ("-1", nn.AvgPool2d(stride)),
                    ("0", nn.Conv2d(inplanes, out, 1, bias=False)),
                    ("1", nn.BatchNorm2d(out)),
                ])
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.relu2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.avgpool(y)))
        return self.relu3(y + identity)


class AttentionPool2d(nn.Module):
    """CLIP's attention pooling: the mean token attends over itself and the map (separate q/k/v projections).

    Only the mean token's output is computed: CLIP-ReID uses no other.
    """

    def __init__(self, tokens: int, embed_dim: int, heads: int, output_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.positional_embedding = nn.Parameter(torch.randn(tokens + 1, embed_dim) / embed_dim**0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` -> ``[B, output_dim]``."""
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding.to(x.dtype)
        b, n, c = x.shape
        d = c // self.heads
        q = self.q_proj(x[:, :1]).reshape(b, 1, self.heads, d).transpose(1, 2)
        k = self.k_proj(x).reshape(b, n, self.heads, d).transpose(1, 2)
        v = self.v_proj(x).reshape(b, n, self.heads, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.c_proj(out.transpose(1, 2).reshape(b, c))


class ModifiedResNet(nn.Module):
    """CLIP's ResNet-50: a 3-conv stem with average pooling, anti-aliased bottlenecks, attention pooling.

    CLIP-ReID builds the last stage with stride 1 (OpenAI's has 2), so a 256x128 image gives a
    16x8 map and the attention pool has 1 + 128 positions.

    Args:
        img_size: (H, W), multiples of 16; sets the attention pool's positions.
        layers: bottlenecks per stage, (3, 4, 6, 3) for RN50.
        width: stem width (64); the final map has ``32 * width`` channels.
        heads: attention-pool heads (32).
        output_dim: attention-pool output, the joint-space size (1024).
    """

    def __init__(
        self,
        img_size: tuple[int, int] = (256, 128),
        layers: tuple[int, int, int, int] = (3, 4, 6, 3),
        width: int = 64,
        heads: int = 32,
        output_dim: int = 1024,
    ) -> None:
        super().__init__()
        h, w = img_size
        if h % 16 or w % 16:
            raise ValueError(f"img_size {tuple(img_size)}: the ResNet encoder needs multiples of 16")
        self.grid = (h // 16, w // 16)
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=1)
        self.width = width * 32
        self.attnpool = AttentionPool2d(self.grid[0] * self.grid[1], self.width, heads, output_dim)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, cv_embed: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """``(mean of layer3 [B, 1024], mean of layer4 [B, 2048], attention pool [B, 1024])``."""
        if cv_embed is not None:
            raise ValueError("the ResNet encoder has no camera embedding")
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.avgpool(self.relu3(self.bn3(self.conv3(x))))
        x3 = self.layer3(self.layer2(self.layer1(x)))
        x4 = self.layer4(x3)
        return x3.mean(dim=(2, 3)), x4.mean(dim=(2, 3)), self.attnpool(x4)
