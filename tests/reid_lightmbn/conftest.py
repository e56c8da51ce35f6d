"""Setup of the reid_lightmbn tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # OSNet's depthwise convolutions on small batches do not gain from a second intra-op thread,
    # and on a shared machine they lose a lot (the torchreid tests found ~10x).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
