"""Backbones of the TransReID family."""

from .vit import PatchEmbed, TransReIDViT, patch_grid, reshape_tokens

__all__ = ["PatchEmbed", "TransReIDViT", "patch_grid", "reshape_tokens"]
