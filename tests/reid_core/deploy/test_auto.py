"""extract_features' default backend: the fastest installed one that passes parity, else PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import reid_core
from reid_core.data import ImageDataset, synthetic
from reid_core.deploy import ParityError, auto
from reid_core.deploy.backends import OnnxRuntimeBackend, OpenVINOBackend
from reid_core.errors import ReidError
from reid_core.extract import extract_features

from ..data.small import NUM_IDS

pytest.importorskip("onnxruntime")


@pytest.fixture
def records(home):
    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    return ds.gallery[:24]


def extract(model, data, **kw):
    return extract_features(model, data, batch_size=8, num_workers=0, progress=False, **kw)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.double(), b.double())


def test_auto_runs_a_big_enough_job_on_the_first_installed_backend(tiny, records, monkeypatch):
    monkeypatch.setattr(auto, "AUTO_MIN_IMAGES", len(records))
    installed = {b for b in auto.CPU_ORDER if auto.available(b)}
    reference = extract(tiny, records, backend="torch")
    assert reference.backend == "torch"
    got = extract(tiny, records)
    want = got.backend
    assert want in installed
    assert cosine(got.feats, reference.feats).min() >= 0.9999
    assert got.pids.tolist() == reference.pids.tolist() and got.paths == reference.paths
    # the flip average goes through the backend too
    flipped = extract(tiny, records, flip=True)
    assert flipped.backend == want
    assert cosine(flipped.feats, extract(tiny, records, flip=True, backend="torch").feats).min() >= 0.9999
    assert not torch.allclose(flipped.feats, got.feats, atol=1e-3)


@pytest.mark.parametrize("faster", ["onnxruntime", "openvino"])
def test_auto_runs_the_faster_backend_on_its_probe_batch(tiny, records, monkeypatch, faster):
    import dataclasses

    pytest.importorskip("openvino")
    monkeypatch.setattr(auto, "AUTO_MIN_IMAGES", 1)
    real = auto._runner
    timed = []

    def with_times(model, backend, device, digest):
        runner = real(model, backend, device, digest)
        timed.append(runner.seconds)
        return dataclasses.replace(runner, seconds=1.0 if backend == faster else 2.0)

    monkeypatch.setattr(auto, "_runner", with_times)
    assert extract(tiny, records).backend == faster
    assert len(timed) == 2 and all(0 < t < 60 for t in timed)  # both were really timed


def test_auto_keeps_small_jobs_and_other_inputs_in_pytorch(tiny, records, monkeypatch):
    monkeypatch.setattr(auto, "AUTO_MIN_IMAGES", len(records) + 1)
    assert extract(tiny, records).backend == "torch"  # exporting would cost more than it wins
    monkeypatch.setattr(auto, "AUTO_MIN_IMAGES", 1)
    assert extract(tiny, records, input_size=(128, 64)).backend == "torch"  # not the exported size
    assert extract(tiny, records, amp=True).backend == "torch"  # bf16 autocast was asked for
    from reid_core.data.transforms import eval_transforms

    loader = DataLoader(ImageDataset(records, eval_transforms((256, 128))), batch_size=8)
    assert extract(tiny, loader).backend == "torch"  # the loader's own transform sets the size
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    assert extract(plain, records).backend == "torch"  # not a zoo model: nothing to export


def test_a_backend_that_fails_parity_is_skipped_with_a_warning(tiny, records, monkeypatch):
    monkeypatch.setattr(auto, "AUTO_MIN_IMAGES", 1)

    def wrong(self, images, camids=None):
        return np.random.default_rng(0).normal(size=(len(images), 8)).astype(np.float32)

    monkeypatch.setattr(OnnxRuntimeBackend, "__call__", wrong)
    monkeypatch.setattr(OpenVINOBackend, "__call__", wrong)
    with pytest.warns(UserWarning, match=r"tiny_net not run with (openvino|onnxruntime) .*cosine to PyTorch min"):
        got = extract(tiny, records)
    assert got.backend == "torch"
    np.testing.assert_allclose(got.feats, extract(tiny, records, backend="torch").feats, rtol=1e-5, atol=1e-6)
    # asked for by name, the same failure is an error, not a fallback
    with pytest.raises(ParityError, match="onnxruntime fp32"):
        extract(tiny, records, backend="onnxruntime")


def test_the_built_backend_is_reused_until_the_weights_change(tiny, records, monkeypatch):
    monkeypatch.setattr(auto, "AUTO_MIN_IMAGES", 1)
    built = []
    real = auto._runner

    def counting(model, backend, device, digest):
        runner = real(model, backend, device, digest)
        built.append(runner)
        return runner

    monkeypatch.setattr(auto, "_runner", counting)
    first = extract(tiny, records, backend="onnxruntime")
    again = extract(tiny, records, backend="onnxruntime")
    assert built[0] is built[1]  # the query and gallery of one evaluation pay the check once
    torch.testing.assert_close(first.feats, again.feats)
    with torch.no_grad():
        tiny.conv.weight.mul_(-1)
    changed = extract(tiny, records, backend="onnxruntime")
    assert built[2] is not built[0]
    assert cosine(changed.feats, extract(tiny, records, backend="torch").feats).min() >= 0.9999


def test_named_backends_refuse_what_they_cannot_run(tiny, records):
    from reid_core.data.transforms import eval_transforms

    with pytest.raises(ValueError, match="backend must be one of auto, torch"):
        extract(tiny, records, backend="tflite")
    loader = DataLoader(ImageDataset(records, eval_transforms((256, 128))), batch_size=8)
    with pytest.raises(ReidError, match="input size"):
        extract(tiny, loader, backend="onnxruntime")
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with pytest.raises(ReidError, match="has no meta"):
        extract(plain, records, backend="openvino")


def test_evaluate_runs_query_and_gallery_on_one_backend(tiny, home, monkeypatch):
    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    # big enough for the gallery, not for the query: the query follows the gallery
    monkeypatch.setattr(auto, "AUTO_MIN_IMAGES", len(ds.gallery))
    assert len(ds.query) < len(ds.gallery)
    seen = []
    real = extract_features

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(out.backend)
        return out

    import importlib

    monkeypatch.setattr(importlib.import_module("reid_core.evaluate"), "extract_features", spy)
    result = reid_core.evaluate(tiny, ds, num_workers=0, progress=False)
    assert seen[0] != "torch" and seen == [seen[0]] * 2
    assert result.extra["backend"] == seen[0]


def test_cli_choices_are_the_backends():
    from reid_core.cli._options import BACKEND_CHOICES

    assert BACKEND_CHOICES == auto.CHOICES


def test_reid_extract_says_which_backend_ran(tiny, home, tmp_path, capsys, monkeypatch):
    from reid_core.cli import main

    folder = tmp_path / "crops"
    folder.mkdir()
    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    for r in ds.gallery[:6]:
        (folder / r.path.rsplit("/", 1)[-1]).write_bytes(open(r.path, "rb").read())
    weights = tmp_path / "w.pth"
    torch.save(tiny.state_dict(), weights)
    out = tmp_path / "f.npz"
    assert main(["extract", "tiny_net", "--weights", str(weights), "--images", str(folder), "--out", str(out),
                 "--backend", "onnxruntime", "--num-workers", "0"]) == 0
    assert "run with onnxruntime" in capsys.readouterr().out
    got = reid_core.Features.load(out)
    assert main(["extract", "tiny_net", "--weights", str(weights), "--images", str(folder), "--out", str(out),
                 "--backend", "torch", "--num-workers", "0"]) == 0
    assert "run with torch" in capsys.readouterr().out
    assert cosine(got.feats, reid_core.Features.load(out).feats).min() >= 0.9999
    assert main(["extract", "tiny_net", "--images", str(folder), "--out", str(out), "--backend", "tflite"]) == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
