"""Every published model of every installed family through ONNX Runtime and OpenVINO, with parity.

The weights are the parity fixtures' deterministic fill (reid-fill-v1: trained-like statistics,
e.g. running variances in [0.5, 1.5]), not the published files, which need the network. One model
per family runs in every session (slow: exporting takes 10-30 s a model); the others, about
twenty minutes more on two cores, run with ``pytest -m exhaustive tests/reid_core/deploy``.
Camera-aware models are checked with several cameras.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reid_core
from reid_core.data import synthetic
from reid_core.deploy import COSINE_BOUND, Embedder
from reid_core.deploy.embedder import _torch_reference, load_images
from reid_core.deploy.artifacts import artifact_path, exported_dir
from reid_core.export import camera_count, export_onnx

from ...parity.reidfill import fill
from ..data.small import NUM_IDS, small_synthetic_home

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

#: the model of each family that every session runs (the cheapest to export of its published ones)
EVERY_SESSION = {
    "abd": "resnet50_abd",
    "agw": "resnet50_agw",
    "apnet": "resnet50_ap",
    "bot": "resnet50_bot",
    "clipreid": "rn50_clipreid",  # the ViT-B/16 ones (camera-aware) run with -m exhaustive
    "fastreid": "mgn_R50_fastreid",  # several branches concatenated
    "lightmbn": "osnet_lmbn",
    "pass": "vit_small_pass",
    "solider": "swin_tiny_solider",
    "torchreid": "osnet_x1_0_dpr",
    "transreid": "vit_transreid",  # camera- and view-aware
    "transreid-ssl": "vit_small_transreid_ssl",
}


def published() -> list:
    params = []
    for name in reid_core.list_models(pretrained=True):
        family = reid_core.model_info(name).family
        marks = pytest.mark.slow if EVERY_SESSION.get(family) == name else pytest.mark.exhaustive
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def test_every_family_has_a_model_in_every_session():
    families = {reid_core.model_info(n).family for n in reid_core.list_models(pretrained=True)}
    assert families == set(EVERY_SESSION)
    for family, name in EVERY_SESSION.items():
        assert reid_core.model_info(name).family == family


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return small_synthetic_home(tmp_path_factory)


def filled(name: str) -> torch.nn.Module:
    model = reid_core.create_model(name).eval()
    own = model.state_dict()
    state = fill({k: (tuple(v.shape), str(v.dtype)) for k, v in own.items()}, seed=0)
    for key, value in own.items():
        if not value.dtype.is_floating_point:  # index tables (Swin's relative positions) stay computed
            state[key] = value.clone()
    model.load_state_dict(state)
    return model


@pytest.mark.parametrize("name", published())
def test_published_model_runs_on_onnxruntime_and_openvino(name, home, monkeypatch):
    monkeypatch.setenv("REID_HOME", str(home))
    crops = [r.path for r in synthetic(home / "datasets", num_ids=NUM_IDS).gallery[::5][:6]]
    model = filled(name)
    # Exported here with one check batch: the checks below cover batches of 6, 4 and 2, and the
    # export's own check at 1, 4 and 17 is tested in tests/reid_core/test_export.py.
    export_onnx(model, artifact_path(model, "fp32", ".onnx"), dynamic_batch=True, batch_sizes=(2,))
    batch = load_images(crops, model.input_size)
    camids = np.arange(len(crops), dtype=np.int64) % max(1, camera_count(model))
    reference = _torch_reference(model, batch, camids)
    assert np.isfinite(reference).all() and reference.std() > 0
    for backend in ("onnxruntime", "openvino"):
        embed = Embedder(model, backend=backend, check=False, batch_size=4)
        parity = embed.check(crops)  # raises ParityError past the fp32 bound
        assert parity.images == len(crops) and parity.min_cosine >= COSINE_BOUND["fp32"]
        # batches of 4 and 2 (dynamic batch), and the cameras of camera-aware models
        got = embed(torch.from_numpy(batch), camids=camids if model.camera_aware else None)
        cos = (got * reference).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
        assert cos.min() >= COSINE_BOUND["fp32"], f"{name} on {backend}: cosine {cos.min():.6f}"
    for path in exported_dir().glob(f"{name}-*"):  # up to 350 MB a model: not kept for the session
        path.unlink()
