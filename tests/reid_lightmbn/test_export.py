"""ONNX export of the *_lmbn models, checked against PyTorch at batch 1, 4 and 17."""

import pytest
import torch

import reid_core
from reid_core.export import CHECK_BATCH_SIZES, export_onnx

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["osnet_lmbn", "resnet50_lmbn"])
def test_onnx_export_matches_pytorch_at_three_batch_sizes(name, tmp_path):
    torch.manual_seed(0)
    model = reid_core.create_model(name).eval()
    result = export_onnx(model, tmp_path / f"{name}.onnx", dynamic_batch=True)
    assert (tmp_path / f"{name}.onnx").is_file()
    assert sorted(result.check.errors) == sorted(CHECK_BATCH_SIZES)
    assert result.check.ok and max(result.check.errors.values()) <= 1e-4
