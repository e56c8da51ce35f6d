"""Setup of the reid_torchreid tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # OSNet's depthwise convolutions on batch-2, 64x32 inputs are too small to split: on a loaded
    # machine a second intra-op thread made these tests ~10x slower, never faster.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
