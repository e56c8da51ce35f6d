"""ONNX export of the *_clipreid models: the files reproduce PyTorch at batch 1, 4 and 17, and the
camera-aware model takes camids as a second input. The comparisons run onnxruntime here, besides
the export's own check."""

from __future__ import annotations

import numpy as np
import pytest
import reid_core
import torch
from reid_core.export import export

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SMALL = (64, 32)


def run(session, images, camids=None):
    feeds = {"images": images.numpy()} | ({"camids": camids.numpy()} if camids is not None else {})
    return session.run(["features"], feeds)[0]


def rel_err(got, ref):
    return float(np.max(np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)))


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        pytest.param("vit_b16_clipreid", {"depth": 2}, marks=pytest.mark.slow),
        ("vit_b16_sie_olp_clipreid", {"depth": 2, "camera_num": 4}),
        pytest.param("rn50_clipreid", {}, marks=pytest.mark.slow),  # the whole ResNet-50: 100+ MB of graph
    ],
)
def test_onnx_matches_pytorch_at_batch_1_4_17(name, kw, tmp_path):
    torch.manual_seed(0)
    model = reid_core.create_model(name, num_classes=5, img_size=SMALL, **kw).eval()
    result = export(model, tmp_path / f"{name}.onnx", dynamic_batch=True)
    assert result.check.ok and sorted(result.check.errors) == [1, 4, 17]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == (["images", "camids"] if model.camera_aware else ["images"])
    g = torch.Generator().manual_seed(7)
    for batch in (1, 4, 17):
        images = torch.rand(batch, 3, *SMALL, generator=g)
        camids = torch.randint(0, 4, (batch,), generator=g) if model.camera_aware else None
        with torch.no_grad():
            ref = (model(images, camids=camids) if camids is not None else model(images)).numpy()
        got = run(session, images, camids)
        assert got.shape == (batch, model.feature_dim)
        assert rel_err(got, ref) <= 1e-4, f"{name} at batch {batch}"
    if model.camera_aware:  # the cameras reach the graph
        images = torch.rand(2, 3, *SMALL, generator=g)
        a, b = run(session, images, torch.tensor([0, 1])), run(session, images, torch.tensor([3, 2]))
        assert np.abs(a - b).max() > 1e-4
