"""The deploy tests' REID_HOME (a small synthetic set) and a tiny registered model."""

import pytest
import torch

import reid_core

from ..data.small import small_synthetic_home


@pytest.fixture
def home(tmp_path_factory, monkeypatch):
    path = small_synthetic_home(tmp_path_factory)
    monkeypatch.setenv("REID_HOME", str(path))
    return path


@pytest.fixture
def tiny(tiny_family, home):
    torch.manual_seed(0)
    return reid_core.create_model("tiny_net").eval()
