"""ONNX export of the *_transreid_ssl models: the file reproduces PyTorch at batch 1, 4 and 17.

Each model is exported with two blocks at its published input size (the stem, token layout and
head are those of the full model); onnxruntime runs the file here, independently of the export's
own check.
"""

import numpy as np
import pytest
import torch

import reid_core
from reid_core.export import export

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

pytestmark = pytest.mark.slow


NAMES = ["vit_small_transreid_ssl", "vit_small_ics_transreid_ssl", "vit_base_ics_transreid_ssl"]


@pytest.mark.parametrize("name", NAMES)
def test_onnx_matches_pytorch_at_batch_1_4_17(name, tmp_path):
    torch.manual_seed(0)
    model = reid_core.create_model(name, num_classes=5, depth=2).eval()
    result = export(model, tmp_path / f"{name}.onnx", dynamic_batch=True, check=False)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    for batch in (1, 4, 17):
        images = torch.rand(batch, 3, *model.input_size, generator=torch.Generator().manual_seed(batch))
        got = session.run(["features"], {"images": images.numpy()})[0]
        with torch.no_grad():
            ref = model(images).numpy()
        assert got.shape == (batch, model.feature_dim)
        err = np.max(np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1))
        assert err <= 1e-4, f"{name} at batch {batch}: {err:.2e}"
