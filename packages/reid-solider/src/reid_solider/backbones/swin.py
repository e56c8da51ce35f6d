"""SOLIDER's Swin transformer: the mmsegmentation layout, with the semantic controller.

This is not timm's (Microsoft's) Swin, though it uses timm's window helpers where they agree:

* every block zero-pads its map bottom/right to a multiple of the window and attends over the
  padded windows (the zero tokens are not masked), where Microsoft's Swin shrinks the window;
* the shift is never clipped: odd blocks roll by ``window // 2`` even on maps smaller than a window;
* patch merging concatenates each 2x2 block channel-major (``nn.Unfold`` order:
  ``[c0(0,0), c0(0,1), c0(1,0), c0(1,1), c1(0,0), ...]``), not block-major;
* after each stage the merged tokens are modulated by the semantic weight ``s``:
  ``x * softplus(W_i [s, 1-s]) + B_i [s, 1-s]`` (SOLIDER's semantic controller).

Key names are SOLIDER's (``patch_embed.projection``, ``stages.i.blocks.j.attn.w_msa``,
``ffn.layers.0.0`` / ``ffn.layers.1``, ``norm0..3``, ``semantic_embed_w/b``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from timm.models.swin_transformer import get_relative_position_index, window_partition, window_reverse
from torch import nn


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` convolution and LayerNorm; pads bottom/right to fit."""

    def __init__(self, dim: int, patch: int = 4) -> None:
        super().__init__()
        self.patch = patch
        self.projection = nn.Conv2d(3, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = _pad_to_multiple(x, self.patch, channels_last=False)
        x = self.projection(x)
        hw = (x.shape[2], x.shape[3])
        return self.norm(x.flatten(2).transpose(1, 2)), hw


class PatchMerging(nn.Module):
    """2x2 merge to ``2C`` channels, concatenating each block channel-major (``nn.Unfold`` order)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        b, _, c = x.shape
        x = _pad_to_multiple(x.view(b, hw[0], hw[1], c), 2, channels_last=True)
        h, w = x.shape[1] // 2, x.shape[2] // 2
        x = x.view(b, h, 2, w, 2, c).permute(0, 1, 3, 5, 2, 4).reshape(b, h * w, 4 * c)
        return self.reduction(self.norm(x)), (h, w)


class WindowMSA(nn.Module):
    """Multi-head self-attention inside a window, with a relative position bias table."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        # Persistent, as upstream: the published checkpoints carry it.
        self.register_buffer("relative_position_index", get_relative_position_index(window, window))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(-1, windows, self.heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.heads, n, n)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(x)


class ShiftWindowMSA(nn.Module):
    """(Shifted) window attention on a map padded to whole windows, cropped back afterwards."""

    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.window = window
        self.shift = shift
        self.w_msa = WindowMSA(dim, heads, window)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        h, w = hw
        ws = self.window
        x = _pad_to_multiple(x.view(b, h, w, c), ws, channels_last=True)
        hp, wp = x.shape[1], x.shape[2]
        mask = None
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
            mask = self._shift_mask(hp, wp, x.device, x.dtype)
        windows = window_partition(x, (ws, ws)).view(-1, ws * ws, c)
        x = window_reverse(self.w_msa(windows, mask).view(-1, ws, ws, c), (ws, ws), hp, wp)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return x[:, :h, :w].reshape(b, h * w, c)

    def _shift_mask(self, hp: int, wp: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """-100 between tokens of a window that the roll brought from different regions (upstream's rule)."""
        ws, s = self.window, self.shift
        regions = torch.zeros(1, hp, wp, 1, device=device)
        spans = (slice(0, -ws), slice(-ws, -s), slice(-s, None))
        label = 0
        for rows in spans:
            for cols in spans:
                regions[:, rows, cols] = label
                label += 1
        ids = window_partition(regions, (ws, ws)).view(-1, ws * ws)
        diff = ids.unsqueeze(1) - ids.unsqueeze(2)
        return torch.zeros_like(diff, dtype=dtype).masked_fill(diff != 0, -100.0)


class SwinBlock(nn.Module):
    """Pre-norm (shifted) window attention and a GELU MLP, each with a residual connection."""

    def __init__(self, dim: int, heads: int, window: int, shift: bool, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ShiftWindowMSA(dim, heads, window, window // 2 if shift else 0)
        self.norm2 = nn.LayerNorm(dim)
        # Sequential(Sequential(fc1, GELU, Dropout), fc2, Dropout): upstream's FFN keys.
        self.ffn = nn.Module()
        self.ffn.layers = nn.Sequential(
            nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Identity()), nn.Linear(4 * dim, dim), nn.Identity()
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), hw))
        return x + self.drop_path(self.ffn.layers(self.norm2(x)))


class SwinStage(nn.Module):
    """Blocks (alternately plain and shifted windows), then the optional patch merging."""

    def __init__(
        self, dim: int, depth: int, heads: int, window: int, drop_paths: list[float], downsample: bool
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SwinBlock(dim, heads, window, i % 2 == 1, drop_paths[i]) for i in range(depth))
        self.downsample = PatchMerging(dim) if downsample else None


class SoliderSwin(nn.Module):
    """SOLIDER's Swin trunk. ``forward`` returns the pooled, normed last stage ``[B, C_last]``.

    Args:
        embed_dim: channels of the first stage (96 for T/S, 128 for B); doubled at each stage.
        depths: blocks per stage.
        heads: attention heads per stage.
        window: window size (7).
        semantic_weight: SOLIDER's semantic controller input ``s`` (0.2 for the ReID checkpoints);
            negative builds no controller (and no ``semantic_embed_*`` keys).
        drop_path_rate: stochastic depth of the last block, rising linearly from 0.
    """

    def __init__(
        self,
        embed_dim: int,
        depths: tuple[int, ...],
        heads: tuple[int, ...],
        *,
        window: int = 7,
        semantic_weight: float = 0.2,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        stages = len(depths)
        self.num_features = [embed_dim * 2**i for i in range(stages)]
        self.patch_embed = PatchEmbed(embed_dim)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            self.stages.append(
                SwinStage(self.num_features[i], depth, heads[i], window, rates[start : start + depth], i < stages - 1)
            )
        for i, dim in enumerate(self.num_features):
            self.add_module(f"norm{i}", nn.LayerNorm(dim))
        self.semantic_weight = float(semantic_weight)
        if self.semantic_weight >= 0:
            # After stage i the controller acts on stage i+1's width; the last pair repeats the
            # width before it and acts on nothing the output uses, but upstream builds (and saves) it.
            widths = [self.num_features[min(i + 1, stages - 1)] for i in range(stages)]
            self.semantic_embed_w = nn.ModuleList(nn.Linear(2, w) for w in widths)
            self.semantic_embed_b = nn.ModuleList(nn.Linear(2, w) for w in widths)
            for p in [*self.semantic_embed_w.parameters(), *self.semantic_embed_b.parameters()]:
                p.requires_grad_(False)  # upstream keeps the controller fixed during ReID training

    @property
    def out_dim(self) -> int:
        """Channels of the output feature."""
        return self.num_features[-1]

    def forward_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """The last stage's tokens after ``norm{last}``, ``[B, h*w, C]``, and their grid (h, w)."""
        x, hw = self.patch_embed(x)
        last = len(self.stages) - 1
        if self.semantic_weight >= 0:
            s = torch.tensor([[self.semantic_weight, 1.0 - self.semantic_weight]], dtype=x.dtype, device=x.device)
        for i, stage in enumerate(self.stages):
            for block in stage.blocks:
                x = block(x, hw)
            if i == last:
                break
            x, hw = stage.downsample(x, hw)
            if self.semantic_weight >= 0:
                x = x * F.softplus(self.semantic_embed_w[i](s)) + self.semantic_embed_b[i](s)
        return getattr(self, f"norm{last}")(x), hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, _ = self.forward_tokens(x)
        return tokens.mean(1)


def _pad_to_multiple(x: torch.Tensor, multiple: int, *, channels_last: bool) -> torch.Tensor:
    """Zero-pad the spatial dims bottom/right to a multiple of ``multiple`` (mmseg's "corner" padding)."""
    h, w = (x.shape[1], x.shape[2]) if channels_last else (x.shape[2], x.shape[3])
    pad_h, pad_w = -h % multiple, -w % multiple
    if not pad_h and not pad_w:
        return x
    return F.pad(x, (0, 0, 0, pad_w, 0, pad_h)) if channels_last else F.pad(x, (0, pad_w, 0, pad_h))
