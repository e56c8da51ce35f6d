"""ONNX export of the *_solider models, checked against PyTorch at batch 1, 4 and 17.

Swin pads and shifts its windows by sizes fixed by the input size; only the batch is dynamic.
"""

import pytest
import torch

import reid_core
from reid_core.export import CHECK_BATCH_SIZES, export_onnx

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow


# the larger two add about two minutes and nothing the tiny one does not check: same blocks, more of them
@pytest.mark.parametrize("name", [
    "swin_tiny_solider",
    pytest.param("swin_small_solider", marks=pytest.mark.exhaustive),
    pytest.param("swin_base_solider", marks=pytest.mark.exhaustive),
])
def test_onnx_export_matches_pytorch_at_three_batch_sizes(name, tmp_path):
    torch.manual_seed(0)
    model = reid_core.create_model(name).eval()
    result = export_onnx(model, tmp_path / f"{name}.onnx", dynamic_batch=True)
    assert (tmp_path / f"{name}.onnx").is_file()
    assert sorted(result.check.errors) == sorted(CHECK_BATCH_SIZES)
    assert result.check.ok and max(result.check.errors.values()) <= 1e-4
