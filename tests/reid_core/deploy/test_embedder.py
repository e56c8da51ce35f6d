"""Embedder: crops and frame-with-boxes calls, backends checked against PyTorch, the export cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import reid_core
from reid_core.data import read_image, synthetic
from reid_core.deploy import BackendError, Embedder, ParityError
from reid_core.deploy.backends import OnnxRuntimeBackend
from reid_core.extract import extract_features

from ..conftest import TinyNet
from ..data.small import NUM_IDS

pytest.importorskip("onnxruntime")


def crops(home, n=3):
    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    return [r.path for r in ds.gallery[:n]]


def compose(paths, size=(240, 320)):
    """A noisy background frame (RGB, uint8 HxWx3) with the crops pasted in, and their xyxy boxes."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    boxes, x = [], 0
    for p in paths:
        im = read_image(p).permute(1, 2, 0).numpy()
        h, w = im.shape[:2]
        y = 37 if x else 0  # the first crop touches the frame's top-left corner
        frame[y : y + h, x : x + w] = im
        boxes.append([x, y, x + w, y + h])
        x += w + 11
    return frame, np.asarray(boxes, dtype=np.float32)


def test_frame_and_boxes_give_the_features_of_the_crops(tiny, home):
    paths = crops(home)
    frame_rgb, boxes = compose(paths)
    embed = Embedder(tiny, backend="torch", check=False)
    want = extract_features(tiny, paths, batch_size=8, num_workers=0, progress=False).feats.numpy()
    got = embed(np.ascontiguousarray(frame_rgb[:, :, ::-1]), boxes)  # numpy frames are BGR by default
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    rgb = Embedder(tiny, backend="torch", check=False, colour="rgb")
    np.testing.assert_allclose(rgb(frame_rgb, boxes), want, rtol=1e-4, atol=1e-5)
    # the same crops given one by one, and a torch frame (RGB, [3, H, W])
    np.testing.assert_allclose(embed(paths), want, rtol=1e-4, atol=1e-5)
    frame_t = torch.from_numpy(frame_rgb).permute(2, 0, 1).contiguous()
    np.testing.assert_allclose(embed(frame_t, boxes), want, rtol=1e-4, atol=1e-5)


def test_boxes_outside_the_frame_are_clipped_and_empty_ones_refused(tiny, home):
    paths = crops(home, 1)
    frame, boxes = compose(paths)
    embed = Embedder(tiny, backend="torch", check=False, colour="rgb")
    outside = boxes.copy()
    outside[0, :2] -= 25  # beyond the top-left corner: clipped back to the crop
    np.testing.assert_array_equal(embed(frame, outside), embed(frame, boxes))
    with pytest.raises(ValueError, match=r"box 1 .* is empty"):
        embed(frame, [[0, 0, 10, 10], [50, 50, 50, 80]])
    with pytest.raises(ValueError, match=r"box 0 .* is empty"):
        embed(frame, [[400, 10, 500, 90]])
    assert embed(frame, np.zeros((0, 4))).shape == (0, 8)
    with pytest.raises(ValueError, match="uint8"):
        embed(frame.astype(np.float32), boxes)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backends_match_pytorch_and_cache_their_export(tiny, home, backend):
    pytest.importorskip(backend)
    paths = crops(home, 6)
    embed = Embedder(tiny, backend=backend)
    assert embed.parity.min_cosine >= 0.9999 and embed.parity.images == 32
    exported = embed.exported
    assert exported.is_file() and exported.parent.name == "exported"
    assert "tiny_net" in exported.name and "256x128-dyn-fp32" in exported.name
    reference = Embedder(tiny, backend="torch", check=False)(paths)
    np.testing.assert_allclose(embed(paths), reference, rtol=1e-4, atol=1e-5)
    stamp = exported.stat().st_mtime_ns
    again = Embedder(tiny, backend=backend, check=False)
    assert again.exported == exported and exported.stat().st_mtime_ns == stamp  # reused, not re-exported
    other = reid_core.create_model("tiny_net").eval()  # other weights: another file
    assert Embedder(other, backend=backend, check=False).exported != exported
    smaller = Embedder(tiny, backend=backend, check=False, input_size=(128, 64))
    assert "128x64" in smaller.exported.name and smaller(paths).shape == (6, 8)


def test_int8_reports_its_map_delta(tiny, home):
    embed = Embedder(tiny, backend="onnxruntime", precision="int8")
    p = embed.parity
    assert p.precision == "int8" and p.map_delta is not None and p.map_delta >= -0.01
    assert p.min_cosine >= 0.95 and "int8" in embed.exported.name
    assert "points" in p.summary()


def test_a_backend_that_misses_its_bound_raises_with_the_numbers(tiny, home, monkeypatch):
    def wrong(self, images, camids=None):
        return np.random.default_rng(0).normal(size=(len(images), 8)).astype(np.float32)

    monkeypatch.setattr(OnnxRuntimeBackend, "__call__", wrong)
    with pytest.raises(ParityError, match=r"cosine to PyTorch min -?0\.\d+.*bound for fp32 is cosine >= 0.9999"):
        Embedder(tiny, backend="onnxruntime")
    Embedder(tiny, backend="onnxruntime", check=False)  # the user may opt out


class CameraNet(TinyNet):
    """TinyNet plus one learned offset per camera, like a SIE embedding."""

    def __init__(self, num_classes: int = 5, camera_num: int = 3) -> None:
        super().__init__(num_classes)
        self.cam = nn.Parameter(torch.randn(camera_num, 8))

    def forward_features(self, x, camids):
        feat = self.conv(x).mean((2, 3)) + (self.cam[camids] if camids is not None else 0)
        return self.bottleneck(feat) if not self.training else (self.classifier(self.bottleneck(feat)), feat)


@pytest.fixture
def camera_model(registry, home):
    fam = reid_core.Family("tinycam", package="reid-tinycam", module="tests.reid_core", catalog={
        "format": "reid-zoo-catalog-v1", "models": {}})

    @fam.register(feature_dim=8, camera_aware=True, camera_key="cam")
    def tiny_cam_net(num_classes: int = 5, camera_num: int = 3):
        return CameraNet(num_classes, max(camera_num, 1))

    registry.add_family(fam)
    torch.manual_seed(1)
    return reid_core.create_model("tiny_cam_net", camera_num=3).eval()


def test_camera_aware_models_take_camids(camera_model, home):
    paths = crops(home, 4)
    embed = Embedder(camera_model, backend="onnxruntime")
    cams = np.asarray([0, 1, 2, 1])
    got = embed(paths, camids=cams)
    ref = Embedder(camera_model, backend="torch", check=False)(paths, camids=cams)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    assert not np.allclose(embed(paths, camids=np.zeros(4)), got)
    with pytest.raises(ValueError, match="camera-aware"):
        embed(paths)


def test_unavailable_and_bad_choices_are_clear(tiny, home):
    with pytest.raises(BackendError, match=r"tensorrt|CUDA"):
        Embedder(tiny, backend="tensorrt", device="cpu", check=False)
    with pytest.raises(BackendError, match="fp16 on CUDA only"):
        Embedder(tiny, backend="torch", precision="fp16", check=False)
    with pytest.raises(ValueError, match="precision"):
        Embedder(tiny, precision="fp8")
    with pytest.raises(ValueError, match="backend"):
        Embedder(tiny, backend="tflite", check=False)


def test_bench_extract_runs_backends_side_by_side(tiny, home, capsys):
    from reid_core.cli import main

    assert main(["bench", "extract", "tiny_net", "--backend", "torch", "--backend", "onnxruntime",
                 "--batch-size", "4", "--batches", "1", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in
            ("eager", "torch", "onnxruntime")}
    assert set(rows) == {"eager", "torch", "onnxruntime"}
    assert "1.00x" in rows["eager"] and "cosine to PyTorch min 1.0000" in rows["onnxruntime"]


def test_openvino_models_freed_in_creation_order_leave_signal_handling_intact(tiny, home):
    """OpenVINO leaves the thread's signal stack pointing at freed memory when two compiled
    models are freed in the order they were made; the next Python signal handler then kills the
    process with SIGSEGV. Run in a child process, so that a regression fails this test only."""
    import subprocess
    import sys

    pytest.importorskip("openvino")
    onnx_path = Embedder(tiny, backend="onnxruntime", check=False).exported
    code = f"""
import gc, os, signal
from reid_core.deploy.backends import OpenVINOBackend
first = OpenVINOBackend({str(onnx_path)!r})
second = OpenVINOBackend({str(onnx_path)!r})
del first
gc.collect()
del second
gc.collect()
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
os.kill(os.getpid(), signal.SIGUSR1)
print("handled", len(got))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "handled 1" in proc.stdout, (proc.returncode, proc.stderr[-2000:])
