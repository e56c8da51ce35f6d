"""Shared test setup: every test gets its own weights cache and no network."""

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REID_HOME", str(tmp_path_factory.mktemp("reid_home")))
    monkeypatch.delenv("REID_MIRROR", raising=False)
