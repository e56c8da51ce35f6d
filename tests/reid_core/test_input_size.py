"""The input size and test-time flip travel with the weights: checkpoint, catalog record, overrides, every tool."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import reid_core
import torch
from reid_core.cli import main
from reid_core.data import eval_transforms, read_image, synthetic
from reid_core.training.checkpoint import CheckpointManager
from reid_core.training.config import default_config

from .conftest import TinyNet, make_tiny_family
from .data.small import NUM_IDS, small_synthetic_home


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = small_synthetic_home(tmp_path_factory)
    monkeypatch.setenv("REID_HOME", str(path))
    return path


def training_checkpoint(folder: Path, size=(96, 48), flip=True, num_classes=7) -> Path:
    """A checkpoint as the trainer writes it: the model's state and the config as YAML text."""
    cfg = default_config()
    cfg.MODEL.NAME = "tiny_net"
    cfg.INPUT.SIZE = tuple(size)
    cfg.TEST.FLIP = flip
    torch.manual_seed(1)
    state = {"model": TinyNet(num_classes=num_classes).state_dict(), "epoch": 1, "iteration": 3, "config": cfg.dump()}
    return CheckpointManager(folder).save(state, epoch=1)


def by_hand(model, records, size, flip) -> torch.Tensor:
    """Features computed without extract_features: read, resize, forward (and mirror)."""
    tf = eval_transforms(size)
    x = torch.stack([tf(read_image(Path(r.path))) for r in records])
    with torch.no_grad():
        out = model(x)
        return (out + model(x.flip(-1))) / 2 if flip else out


def test_a_training_checkpoint_gives_its_size_and_flip(tiny_family, tmp_path):
    path = training_checkpoint(tmp_path / "ckpt")
    model = reid_core.load("tiny_net", weights=path)
    assert model.input_size == (96, 48)
    assert model.meta.test_flip is True
    assert model.meta.trained_size == (96, 48)
    assert model.classifier.out_features == 7  # built as trained
    # a plain state dict says nothing: the architecture's default, no flip, size unknown
    torch.save(TinyNet(num_classes=7).state_dict(), tmp_path / "plain.pth")
    plain = reid_core.load("tiny_net", weights=tmp_path / "plain.pth")
    assert plain.input_size == (256, 128) and plain.meta.test_flip is False and plain.meta.trained_size is None


def test_extract_features_uses_them_and_warns_on_another_size(tiny_family, home, tmp_path):
    model = reid_core.load("tiny_net", weights=training_checkpoint(tmp_path / "ckpt"))
    records = synthetic(num_ids=NUM_IDS).query[:5]
    feats = reid_core.extract_features(model, records, num_workers=0, progress=False).feats
    assert torch.allclose(feats, by_hand(model, records, (96, 48), flip=True), atol=1e-5)
    assert not torch.allclose(feats, by_hand(model, records, (96, 48), flip=False), atol=1e-5)

    with pytest.warns(UserWarning, match=r"64x32.*trained at 96x48"):
        other = reid_core.extract_features(model, records, input_size=(64, 32), flip=False, num_workers=0, progress=False)
    assert torch.allclose(other.feats, by_hand(model, records, (64, 32), flip=False), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own size: no warning
        reid_core.extract_features(model, records, input_size=(96, 48), num_workers=0, progress=False)


def test_load_overrides_warn_naming_both_sizes(tiny_family, tmp_path):
    path = training_checkpoint(tmp_path / "ckpt")
    with pytest.warns(UserWarning, match=r"tiny_net: running at input size 128x64 .* trained at 96x48"):
        model = reid_core.load("tiny_net", weights=path, input_size=(128, 64), flip=False)
    assert model.input_size == (128, 64) and model.meta.test_flip is False and model.meta.trained_size == (96, 48)
    with pytest.raises(ValueError, match="input_size"):
        reid_core.set_input(model, input_size=(0, 64))


def test_a_catalog_record_gives_its_size(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("REID_HOME", str(tmp_path / "home"))
    torch.save(TinyNet(num_classes=5).state_dict(), tmp_path / "tiny.pth")
    record = {"dataset": "market1501", "url": (tmp_path / "tiny.pth").as_uri(), "num_classes": 5, "input_size": [384, 128]}
    registry.add_family(make_tiny_family({"format": "reid-zoo-catalog-v1", "models": {"tiny_net": {"weights": [record]}}}))
    model = reid_core.load("tiny_net", "market1501")
    assert model.input_size == (384, 128) and model.meta.trained_size == (384, 128)
    with pytest.warns(UserWarning, match=r"256x128.*trained at 384x128"):
        reid_core.load("tiny_net", "market1501", input_size=(256, 128))


def test_evaluate_with_a_model_name_passes_the_overrides(tiny_family, home, tmp_path):
    model = reid_core.load("tiny_net", weights=training_checkpoint(tmp_path / "ckpt"))
    dataset = synthetic(num_ids=NUM_IDS)
    own = reid_core.evaluate(model, dataset, num_workers=0, progress=False)
    q = by_hand(model, dataset.query, (96, 48), True)
    g = by_hand(model, dataset.gallery, (96, 48), True)
    ref = reid_core.evaluate_features(q, g, [r.pid for r in dataset.query], [r.pid for r in dataset.gallery],
                                      [r.camid for r in dataset.query], [r.camid for r in dataset.gallery])
    assert own.mAP == pytest.approx(ref.mAP, abs=1e-6)


def test_reid_eval_runs_a_checkpoint_at_its_own_size_with_no_flag(tiny_family, home, tmp_path, capsys):
    path = training_checkpoint(tmp_path / "ckpt")
    common = ["eval", "tiny_net", "--weights", str(path), "--dataset", "synthetic", "--dataset-option",
              f"num_ids={NUM_IDS}", "--num-workers", "0", "--no-progress"]
    assert main([*common, "--json", str(tmp_path / "own.json")]) == 0
    own = json.loads((tmp_path / "own.json").read_text())
    assert own["input_size"] == [96, 48] and own["flip"] is True
    assert "input 96x48, flip" in capsys.readouterr().out

    model = reid_core.load("tiny_net", weights=path)
    dataset = synthetic(num_ids=NUM_IDS)
    q, g = by_hand(model, dataset.query, (96, 48), True), by_hand(model, dataset.gallery, (96, 48), True)
    ref = reid_core.evaluate_features(q, g, [r.pid for r in dataset.query], [r.pid for r in dataset.gallery],
                                      [r.camid for r in dataset.query], [r.camid for r in dataset.gallery])
    assert own["mAP"] == pytest.approx(float(ref.mAP), abs=1e-6)

    assert main([*common, "--input-size", "64x32", "--no-flip", "--json", str(tmp_path / "other.json")]) == 0
    other = json.loads((tmp_path / "other.json").read_text())
    assert other["input_size"] == [64, 32] and other["flip"] is False
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "64x32" in warning[0] and "96x48" in warning[0], err


def test_reid_export_uses_the_weights_size(tiny_family, tmp_path, capsys):
    from reid_core.cli.export import build
    from reid_core.cli import build_parser
    from reid_core.export import _inputs

    path = training_checkpoint(tmp_path / "ckpt")
    args = build_parser().parse_args(["export", "tiny_net", "--weights", str(path), "--out", str(tmp_path / "m.onnx")])
    model, _ = build(args)
    assert tuple(_inputs(model, 1, 0)[0].shape) == (1, 3, 96, 48)
    args = build_parser().parse_args(["export", "tiny_net", "--weights", str(path), "--input-size", "128x64",
                                      "--out", str(tmp_path / "m.onnx")])
    with pytest.warns(UserWarning, match="128x64"):
        model, _ = build(args)
    assert tuple(_inputs(model, 1, 0)[0].shape) == (1, 3, 128, 64)
    assert main(["export", "tiny_net", "--weights", str(path), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]) == 0
    assert "input 96x48" in capsys.readouterr().out


@pytest.mark.slow
def test_a_real_training_run_checkpoint_loads_at_its_size(home, tmp_path):
    """Two iterations of the trainer on osnet_x0_25_dpr at 64x32 with TEST.FLIP: load() reads them back."""
    pytest.importorskip("reid_torchreid")
    from reid_core.train import build_config
    from reid_core.training.trainer import Trainer

    opts = ["MODEL.PRETRAINED", "none", "DATASET.KWARGS.num_ids", str(NUM_IDS), "INPUT.SIZE", "(64, 32)", "TEST.FLIP", "True",
            "DATALOADER.P", "2", "DATALOADER.K", "2", "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_ITERS", "2",
            "SOLVER.MAX_EPOCHS", "1", "SOLVER.WARMUP_ITERS", "0", "SOLVER.FREEZE_EPOCHS", "0",
            "TEST.EVAL_PERIOD", "-1", "MODEL.DEVICE", "cpu"]
    cfg = build_config("osnet_x0_25_dpr", "synthetic", home / "datasets", output_dir=tmp_path / "run", opts=opts)
    torch.manual_seed(0)
    Trainer(cfg, progress=False).run()
    model = reid_core.load("osnet_x0_25_dpr", weights=tmp_path / "run" / "checkpoints" / "last.pth")
    assert model.input_size == (64, 32) and model.meta.test_flip is True
