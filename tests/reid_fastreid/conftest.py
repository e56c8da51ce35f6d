"""Settings for the reid_fastreid tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # These tests run many small convolutions on a shared machine; with two OpenMP threads the
    # threads spin while waiting for each other and the CPU time grows about tenfold.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
