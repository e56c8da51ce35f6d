"""Backbones of the solider family."""
