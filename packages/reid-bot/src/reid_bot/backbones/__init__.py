"""Backbones of reid-strong-baseline: its ResNet variants and the SENet family."""

from .resnet import BoTResNet
from .senet import SENet, SENetBlock, se_resnet, se_resnext, senet154

__all__ = ["BoTResNet", "SENet", "SENetBlock", "se_resnet", "se_resnext", "senet154"]
