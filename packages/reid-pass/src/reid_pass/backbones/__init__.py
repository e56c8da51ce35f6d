"""Backbones of the PASS family."""

from .vit import PASSViT

__all__ = ["PASSViT"]
