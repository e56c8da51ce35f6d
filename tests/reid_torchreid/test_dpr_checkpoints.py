"""Checkpoints as deep-person-reid writes them load into the *_dpr models, with a precise report.

deep-person-reid's ``Engine.save_model`` writes ``model.pth.tar-<epoch>`` files holding
``{"state_dict", "epoch", "rank1", "optimizer", "scheduler"}``; models trained under
``nn.DataParallel`` carry a ``module.`` prefix, and the classifier has as many rows as the
training set had identities (1000 for the ImageNet-pretrained files).
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_core.errors import CheckpointError

NAME = "osnet_x0_25_dpr"


def _trained_upstream_style(num_classes: int, seed: int = 0) -> tuple[torch.nn.Module, dict]:
    """A model after one deep-person-reid-like training step, and the checkpoint it would save."""
    torch.manual_seed(seed)
    model = reid_core.create_model(NAME, num_classes=num_classes).train()
    opt = torch.optim.Adam(model.parameters(), lr=1.5e-3, amsgrad=True)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20, 40])
    logits, _ = model(torch.rand(2, 3, 64, 32))
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    opt.step()
    sched.step()
    wrapped = torch.nn.DataParallel(model)  # CPU-only: just adds the "module." prefix
    ckpt = {
        "state_dict": wrapped.state_dict(),
        "epoch": 60,
        "rank1": 0.912,
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
    }
    return model.eval(), ckpt


@pytest.fixture
def imagenet_ckpt(tmp_path):
    model, ckpt = _trained_upstream_style(1000)
    assert all(k.startswith("module.") for k in ckpt["state_dict"])
    path = tmp_path / "osnet_x0_25_imagenet.pth.tar"
    torch.save(ckpt, path)
    return model, path


def test_strict_load_names_the_classifier_mismatch(imagenet_ckpt):
    _, path = imagenet_ckpt
    model = reid_core.create_model(NAME, num_classes=751)
    with pytest.raises(CheckpointError) as err:
        reid_core.load_weights(model, path, strict=True)
    text = str(err.value)
    assert str(path) in text
    assert "shape mismatch (2)" in text
    assert "classifier.weight checkpoint [1000, 512] vs model [751, 512]" in text
    assert "classifier.bias checkpoint [1000] vs model [751]" in text
    assert "missing" not in text and "unexpected" not in text


def test_drop_classifier_loads_everything_else(imagenet_ckpt):
    source, path = imagenet_ckpt
    torch.manual_seed(123)
    model = reid_core.create_model(NAME, num_classes=751)
    classifier_before = model.classifier.weight.detach().clone()

    report = reid_core.load_weights(model, path, drop_classifier=True)

    assert report.ok
    assert sorted(report.dropped) == ["classifier.bias", "classifier.weight"]
    assert report.unwrapped == ['["state_dict"]', "prefix 'module.'"]
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("classifier.")}
    assert report.loaded == len(expected)
    loaded = model.state_dict()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    assert torch.equal(model.classifier.weight, classifier_before)
    assert "dropped as unused by this model (2): classifier.weight, classifier.bias" in report.describe()

    # Eval features do not use the classifier, so they are the source model's.
    x = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), source(x), rtol=0, atol=0)


def test_load_infers_num_classes_from_the_file(tmp_path):
    source, ckpt = _trained_upstream_style(702, seed=1)
    path = tmp_path / "model.pth.tar-60"
    torch.save(ckpt, path)

    model = reid_core.load(NAME, weights=path)

    assert not model.training
    assert model.classifier.out_features == 702
    x = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_plain_state_dict_loads_strictly(tmp_path):
    source, ckpt = _trained_upstream_style(751, seed=2)
    path = tmp_path / "plain.pth"
    torch.save(source.state_dict(), path)
    model = reid_core.create_model(NAME, num_classes=751)
    report = reid_core.load_weights(model, path, strict=True)
    assert report.ok and report.loaded == len(source.state_dict()) and not report.unwrapped


def test_rank1_saved_as_a_numpy_scalar(tmp_path):
    # deep-person-reid's rank1 is cmc[0] of a float32 numpy array: its real files hold a numpy scalar.
    source, ckpt = _trained_upstream_style(751, seed=3)
    ckpt["rank1"] = np.float32(0.912)
    path = tmp_path / "model.pth.tar-60"
    torch.save(ckpt, path)
    model = reid_core.load(NAME, weights=path)
    assert model.classifier.out_features == 751
