"""Shared test setup: every test gets its own weights cache and no network."""

import os

import pytest
import torch

# REID_TEST_THREADS=1 helps when several test runs share the cores.
torch.set_num_threads(int(os.environ.get("REID_TEST_THREADS", "2")))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REID_HOME", str(tmp_path_factory.mktemp("reid_home")))
    monkeypatch.delenv("REID_MIRROR", raising=False)
