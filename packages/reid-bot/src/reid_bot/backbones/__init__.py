"""Backbones of reid-strong-baseline: its ResNet variants and the SENet family."""

from .senet import SENet, SENetBlock, se_resnet, se_resnext, senet154

__all__ = ["SENet", "SENetBlock", "se_resnet", "se_resnext", "senet154"]
