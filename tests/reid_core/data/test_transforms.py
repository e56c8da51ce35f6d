"""Train and test transforms on uint8 images."""

from __future__ import annotations

import torch
from reid_core.data import build_transforms, eval_transforms, train_transforms


def image(h: int = 32, w: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8)


def test_eval_transform_resizes_and_scales() -> None:
    x = image()
    out = eval_transforms((64, 32))(x)
    assert out.shape == (3, 64, 32) and out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    same_size = eval_transforms((32, 16))(x)
    assert torch.allclose(same_size, x.float() / 255, atol=1e-6)
    kept = eval_transforms((64, 32), to_float=False)(x)
    assert kept.dtype == torch.uint8 and kept.shape == (3, 64, 32)


def test_train_transform_flip_only_mirrors_the_image() -> None:
    x = image()
    t = train_transforms((32, 16), flip_prob=1.0, pad=0, erase_prob=0.0)
    assert torch.allclose(t(x), x.flip(-1).float() / 255, atol=1e-6)


def test_train_transform_pad_crop_shifts_within_the_padding() -> None:
    x = image()
    t = train_transforms((32, 16), flip_prob=0.0, pad=2, erase_prob=0.0)
    torch.manual_seed(1)
    outs = [t(x) for _ in range(20)]
    padded = torch.nn.functional.pad(x.float() / 255, (2, 2, 2, 2))
    for out in outs:
        assert out.shape == (3, 32, 16)
        assert any(torch.allclose(out, padded[:, dy : dy + 32, dx : dx + 16], atol=1e-6) for dy in range(5) for dx in range(5))
    assert len({o.sum().item() for o in outs}) > 1


def test_random_erasing_fills_with_the_mean() -> None:
    x = torch.zeros(3, 64, 32, dtype=torch.uint8)
    mean = (0.25, 0.5, 0.75)
    t = train_transforms((64, 32), mean=mean, flip_prob=0.0, pad=0, erase_prob=1.0)
    out = t(x)
    erased = out.sum(0) > 0
    assert 0.02 * 64 * 32 <= erased.sum() <= 0.4 * 64 * 32 + 1
    for c, m in enumerate(mean):
        assert torch.allclose(out[c][erased], torch.full_like(out[c][erased], m))


def test_optional_augmentations_and_dispatch() -> None:
    x = image()
    t = build_transforms((32, 16), train=True, autoaugment_prob=1.0, color_jitter_prob=1.0, erase_prob=0.0)
    out = t(x)
    assert out.shape == (3, 32, 16) and out.dtype == torch.float32
    assert torch.equal(build_transforms((32, 16))(x), eval_transforms((32, 16))(x))
