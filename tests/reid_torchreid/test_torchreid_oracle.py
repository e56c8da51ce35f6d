"""deep-person-reid itself (the ``torchreid`` package, 0.2.5) confirms the ``*_dpr`` models exactly.

torchreid builds each model with random values (every norm's statistics set from real
activations, so that no layer is an identity), runs it on normalized images and saves its state
dict in the three forms deep-person-reid's users have: a plain state dict, a ``module.``-prefixed
one (``nn.DataParallel``), and ``Engine.save_model``'s ``{"state_dict", "epoch", "rank1" (a NumPy
scalar), "optimizer"}``. ``reid_core.load(name, weights=file)`` must read the number of classes
off the file, load strictly and give bit-identical features from the [0, 1] images.
"""

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

if importlib.util.find_spec("torchreid") is None:
    pytest.skip(
        "the deep-person-reid oracle needs the `torchreid` package (0.2.5), which is not installed; "
        "pip install --no-deps torchreid==0.2.5, then gdown and tensorboard (what it imports)",
        allow_module_level=True,
    )

import reid_core

pytestmark = pytest.mark.slow

NAMES = sorted(reid_core.list_models(family="torchreid"))
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
NUM_CLASSES = 13  # not a dataset's: the loader must read it off the file


def randomize(model: nn.Module, images: torch.Tensor, seed: int = 0) -> None:
    """Random norm parameters and biases; each batch norm's statistics from its input on ``images``."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    def calibrate(module, inputs):
        x = inputs[0].detach()
        dims = (0, 2, 3) if x.dim() == 4 else (0,)
        module.running_mean.copy_(x.mean(dim=dims))
        module.running_var.copy_(x.var(dim=dims) * uniform(module.num_features, 0.7, 1.3) + 1e-3)

    hooks = []
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.InstanceNorm2d)) and module.affine:
                module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(uniform(module.bias.shape, -0.2, 0.2))
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                hooks.append(module.register_forward_pre_hook(calibrate))
            if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
                module.bias.copy_(uniform(module.bias.shape, -0.2, 0.2))
        model.eval()
        model(images)
    for hook in hooks:
        hook.remove()


def checkpoint_forms(state_dict: dict) -> dict[str, object]:
    prefixed = {f"module.{k}": v for k, v in state_dict.items()}
    return {
        "plain.pth": state_dict,
        "dataparallel.pth": prefixed,
        "model.pth.tar-60": {"state_dict": prefixed, "epoch": 60, "rank1": np.float64(0.912),
                             "optimizer": {"state": {}, "param_groups": [{"lr": 3e-4}]}},
    }


@pytest.fixture(scope="module")
def torchreid_models():
    # Imported by the tests, not at collection: torchreid imports its whole engine (TensorBoard ...).
    from torchreid.reid import models

    return models


@pytest.mark.parametrize("name", NAMES)
def test_dpr_model_reproduces_torchreid_exactly(tmp_path, name, torchreid_models):
    torch.manual_seed(0)
    upstream = torchreid_models.build_model(name.removesuffix("_dpr"), NUM_CLASSES, loss="softmax",
                                            pretrained=False, use_gpu=False)
    images = torch.rand(2, 3, 256, 128, generator=torch.Generator().manual_seed(1))
    normalized = (images - MEAN) / STD
    randomize(upstream, torch.rand(4, 3, 256, 128) * 2 - 1)
    with torch.no_grad():
        expected = upstream(normalized)
    assert expected.shape == (2, reid_core.model_info(name).feature_dim)

    for file_name, content in checkpoint_forms(upstream.state_dict()).items():
        path = tmp_path / file_name
        torch.save(content, path)
        model = reid_core.load(name, weights=path)
        assert model.get_submodule("classifier").out_features == NUM_CLASSES
        with torch.no_grad():
            features = model(images)
        assert torch.equal(features, expected), (
            f"{name} from {file_name}: max difference {(features - expected).abs().max():.3e}")
