"""Train and test transforms (``torchvision.transforms.v2``) on uint8 ``[3, H, W]`` images.

Models normalize their inputs themselves, so the transforms end with float images in [0, 1],
not with a ``Normalize``.
"""

from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode, v2

from ..model import IMAGENET_MEAN


def eval_transforms(input_size: tuple[int, int], *, to_float: bool = True) -> v2.Compose:
    """Resize to ``input_size`` (H, W) and, unless ``to_float=False``, scale to float in [0, 1].

    ``to_float=False`` keeps uint8, four times less to copy to a GPU; convert there with
    ``images.float() / 255``.
    """
    steps: list[v2.Transform] = [v2.Resize(tuple(input_size), interpolation=InterpolationMode.BILINEAR, antialias=True)]
    if to_float:
        steps.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(steps)


def train_transforms(
    input_size: tuple[int, int],
    *,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    flip_prob: float = 0.5,
    pad: int = 10,
    erase_prob: float = 0.5,
    autoaugment_prob: float = 0.0,
    color_jitter_prob: float = 0.0,
) -> v2.Compose:
    """The reid-strong-baseline / fast-reid training recipe.

    Resize, horizontal flip, pad ``pad`` pixels then crop back at a random place, optionally
    AutoAugment (ImageNet policy, fast-reid's ``AUTOAUG``) and colour jitter (fast-reid's ``CJ``
    values), scale to [0, 1], then random erasing of 2-40% of the image with aspect ratio 0.3-3.3.

    Args:
        input_size: (H, W) of the model.
        mean: the model's normalization mean; erased areas are filled with it, so they are zero
            once the model normalizes, as in fast-reid (which erases before normalizing too).
        flip_prob: probability of a horizontal flip.
        pad: padding before the random crop (0 turns pad-and-crop off).
        erase_prob: probability of random erasing (0 turns it off).
        autoaugment_prob: probability of applying AutoAugment (0: off).
        color_jitter_prob: probability of colour jitter (0: off).
    """
    size = tuple(input_size)
    steps: list[v2.Transform] = [v2.Resize(size, interpolation=InterpolationMode.BILINEAR, antialias=True)]
    if flip_prob > 0:
        steps.append(v2.RandomHorizontalFlip(flip_prob))
    if pad > 0:
        steps += [v2.Pad(pad), v2.RandomCrop(size)]
    if autoaugment_prob > 0:
        steps.append(v2.RandomApply([v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)], p=autoaugment_prob))
    if color_jitter_prob > 0:
        jitter = v2.ColorJitter(brightness=0.15, contrast=0.15, saturation=0.1, hue=0.1)
        steps.append(v2.RandomApply([jitter], p=color_jitter_prob))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if erase_prob > 0:
        steps.append(v2.RandomErasing(p=erase_prob, scale=(0.02, 0.4), ratio=(0.3, 3.33), value=list(mean)))
    return v2.Compose(steps)


def build_transforms(input_size: tuple[int, int], *, train: bool = False, **kwargs) -> v2.Compose:
    """:func:`train_transforms` when ``train`` is true, else :func:`eval_transforms`; ``kwargs`` go to it."""
    return train_transforms(input_size, **kwargs) if train else eval_transforms(input_size, **kwargs)
