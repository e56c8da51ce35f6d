"""A small synthetic dataset and a small real model, shared by the visualization tests."""

import dataclasses

import pytest
import torch

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
pytest.importorskip("pytorch_grad_cam")

import reid_core  # noqa: E402
from reid_core.data import build_dataset  # noqa: E402

#: the synthetic images' own size; four times cheaper than the model's 256 x 128
SIZE = (128, 64)


@pytest.fixture(scope="session")
def synthetic10(tmp_path_factory):
    return build_dataset("synthetic", tmp_path_factory.mktemp("datasets"), num_ids=10)


@pytest.fixture(scope="session")
def osnet():
    if "torchreid" not in {f.extra for f in reid_core.list_families().values()}:
        pytest.skip("reid-torchreid is not installed")
    torch.manual_seed(0)
    model = reid_core.create_model("osnet_x0_25_dpr", num_classes=5)
    model.attach_meta(dataclasses.replace(model.meta, input_size=SIZE))
    return model.eval()
