"""What ReIDModel.forward accepts, and what it says about what it refuses."""

import warnings

import numpy as np
import pytest
import torch

import reid_core


@pytest.fixture
def model(tiny_family):
    return reid_core.create_model("tiny_net", num_classes=3).eval()


def test_uint8_images_are_scaled_to_unit_range(model):
    pixels = torch.randint(0, 256, (2, 3, 8, 4), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with torch.no_grad():
        got = model(pixels)
        want = model(pixels.float() / 255)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want)


def test_float_images_in_0_255_warn_once(model):
    images = torch.rand(2, 3, 8, 4) * 255
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            model(images)
            model(images)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "[0, 1]" in messages[0] and "255" in messages[0]


def test_unit_range_and_augmented_images_do_not_warn(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            model(torch.rand(2, 3, 8, 4))
            model(torch.ones(2, 3, 8, 4) * 1.2)


def test_numpy_images_say_what_to_pass(model):
    with pytest.raises(TypeError, match=r"torch.Tensor .*numpy.ndarray.*torch.from_numpy\(array\).permute"):
        model(np.zeros((2, 8, 4, 3), np.uint8))


def test_float64_images_say_what_to_pass(model):
    with pytest.raises(TypeError, match=r"float64 .*weights are torch.float32: pass images.to\(torch.float32\)"):
        model(torch.rand(2, 3, 8, 4, dtype=torch.float64))
    model.double()
    assert model(torch.rand(2, 3, 8, 4, dtype=torch.float64)).dtype == torch.float64


def test_integer_images_other_than_uint8_are_refused(model):
    with pytest.raises(TypeError, match="torch.int64; pass floats in \\[0, 1\\] or uint8"):
        model(torch.zeros(2, 3, 8, 4, dtype=torch.int64))


@pytest.mark.parametrize("bad", [-1, 0, 2.5, "751", True])
def test_create_model_refuses_a_bad_num_classes(tiny_family, bad):
    with pytest.raises(ValueError, match=r"num_classes must be a positive integer .*751 for Market-1501.*got"):
        reid_core.create_model("tiny_net", num_classes=bad)
