"""Backbones of the TransReID-SSL family."""

from .vit import ICSPatchEmbed, SSLViT

__all__ = ["ICSPatchEmbed", "SSLViT"]
