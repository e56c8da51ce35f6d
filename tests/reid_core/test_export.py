"""ONNX and TorchScript export: the files reproduce PyTorch at batch 1, 4 and 17.

The comparisons here run onnxruntime / torch.jit themselves, independently of the export's own
check. One model per installed family, the cheapest; conv nets run at 128 x 64 to keep it quick.
"""

import dataclasses

import numpy as np
import pytest
import torch

import reid_core
from reid_core.cli import main
from reid_core.export import ExportError, camera_count, export

from .conftest import TinyNet, make_tiny_family

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

#: family extra -> (model, build options); the cheapest model of each family
CHEAPEST = {
    "bot": ("resnet18_bot", {}),
    "torchreid": ("osnet_x0_25_dpr", {}),
    "fastreid": ("bagtricks_mobilenet_v3_large_fastreid", {}),
    "transreid": ("vit_transreid", {"depth": 2}),  # camera-aware: camids are a second input
    "agw": ("resnet50_agw", {}),
    "apnet": ("resnet50_ap", {}),
    "abd": ("resnet50_abd", {}),
}


def installed(extra):
    return extra in {f.extra for f in reid_core.list_families().values()}


def small(name, **kw):
    torch.manual_seed(0)
    model = reid_core.create_model(name, num_classes=5, **kw).eval()
    if model.family != "transreid":  # ViTs are built for their size; conv nets take any
        model.attach_meta(dataclasses.replace(model.meta, input_size=(128, 64)))
    return model


def inputs(model, batch, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, *model.input_size, generator=g)
    camids = torch.randint(0, camera_count(model), (batch,), generator=g) if model.camera_aware else None
    return images, camids


def torch_features(model, images, camids):
    with torch.no_grad():
        return (model(images, camids=camids) if camids is not None else model(images)).numpy()


def rel_err(got, ref):
    return np.max(np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("extra", sorted(CHEAPEST))
def test_onnx_matches_pytorch_at_batch_1_4_17(extra, tmp_path):
    if not installed(extra):
        pytest.skip(f"family {extra} is not installed")
    name, kw = CHEAPEST[extra]
    model = small(name, **kw)
    # the export's own check is tested on the tiny model below; here the test compares by itself
    result = export(model, tmp_path / f"{name}.onnx", dynamic_batch=True, check=False)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == (["images", "camids"] if model.camera_aware else ["images"])
    for batch in (1, 4, 17):
        images, camids = inputs(model, batch, seed=100 + batch)
        feeds = {"images": images.numpy()} | ({"camids": camids.numpy()} if camids is not None else {})
        got = session.run(["features"], feeds)[0]
        ref = torch_features(model, images, camids)
        assert got.shape == (batch, model.feature_dim)
        assert rel_err(got, ref) <= 1e-4, f"{name} at batch {batch}"


def test_camera_aware_onnx_uses_camids(tmp_path):
    if not installed("transreid"):
        pytest.skip("reid-transreid is not installed")
    model = small("vit_transreid", depth=2)
    path = export(model, tmp_path / "vit.onnx", dynamic_batch=True, check=False).path
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.rand(2, 3, *model.input_size).numpy()
    a = session.run(None, {"images": images, "camids": np.array([0, 1])})[0]
    b = session.run(None, {"images": images, "camids": np.array([4, 5])})[0]
    assert np.abs(a - b).max() > 1e-3
    ref = torch_features(model, torch.from_numpy(images), torch.tensor([4, 5]))
    assert rel_err(b, ref) <= 1e-4


@pytest.fixture
def tiny(registry):
    registry.add_family(make_tiny_family())
    torch.manual_seed(0)
    return reid_core.create_model("tiny_net").eval()


def test_fixed_batch_onnx_refuses_other_batches(tiny, tmp_path):
    result = export(tiny, tmp_path / "fixed.onnx", batch_size=4)
    assert not result.dynamic_batch and list(result.check.errors) == [4]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [4, 3, 256, 128]
    with pytest.raises(Exception):
        session.run(None, {"images": np.zeros((2, 3, 256, 128), np.float32)})


def test_fp16_onnx_keeps_float32_io(tiny, tmp_path):
    result = export(tiny, tmp_path / "half.onnx", dynamic_batch=True, fp16=True)
    assert result.fp16 and result.check.tolerance == 1e-2
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    images = torch.rand(3, 3, 256, 128)
    got = session.run(None, {"images": images.numpy()})[0]
    assert got.dtype == np.float32
    assert 0 < rel_err(got, torch_features(tiny, images, None)) <= 1e-2  # float16 is not exact


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_matches_pytorch(tmp_path):
    model = TinyNet()
    model.attach_meta(make_tiny_family().models["tiny_net"].meta)
    model.eval()
    result = export(model, tmp_path / "tiny.pt", "torchscript")
    loaded = torch.jit.load(str(result.path))
    for batch in (1, 4, 17):
        images, _ = inputs(model, batch, seed=batch)
        with torch.no_grad():
            assert rel_err(loaded(images).numpy(), torch_features(model, images, None)) <= 1e-4


class BatchBaked(TinyNet):
    """Divides by the batch size read as a Python number: tracing freezes it to the example's."""

    def forward_features(self, x, camids):
        return super().forward_features(x, camids) / float(x.shape[0])


def test_a_graph_that_bakes_in_the_batch_size_is_refused(tmp_path):
    model = BatchBaked()
    model.attach_meta(make_tiny_family().models["tiny_net"].meta)
    model.eval()
    out = tmp_path / "baked.pt"
    with pytest.raises(ExportError, match="batch 4"):
        export(model, out, "torchscript")
    assert list(tmp_path.iterdir()) == []  # nothing half-checked is left behind


def test_export_command(tiny, tmp_path, capsys):
    out = tmp_path / "tiny.onnx"
    assert main(["export", "tiny_net", "--random-init", "--out", str(out), "--dynamic-batch"]) == 0
    text = capsys.readouterr().out
    assert out.exists() and "checked against PyTorch: batch 1:" in text and "batch 17:" in text
    assert main(["export", "tiny_net", "--out", str(out)]) == 2
    assert "give --dataset" in capsys.readouterr().err
