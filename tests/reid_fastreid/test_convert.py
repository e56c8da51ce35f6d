"""fast-reid's release checkpoints (older key layout) load strictly after conversion.

The checkpoints are synthetic: a model's state dict in today's layout, renamed to the old one
(``heads.bnneck.*``, ``heads.classifier.weight``, ``pixel_mean``/``pixel_std`` on the 0-255 scale)
and saved as fast-reid saved its training checkpoints.
"""

import dataclasses
import warnings

import pytest
import torch

import reid_core
from reid_core import hub
from reid_core.errors import CheckpointError
from reid_fastreid import convert
from reid_fastreid.meta_arch import MGN

from ..parity.reidfill import fill

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
X = torch.rand(2, 3, 64, 32, generator=torch.Generator().manual_seed(0))


def new_layout_state(model: torch.nn.Module, seed: int = 1) -> dict[str, torch.Tensor]:
    """Every tensor of the model filled deterministically (BN statistics far from the defaults)."""
    shapes = {k: (list(v.shape), str(v.dtype)) for k, v in model.state_dict().items()}
    return fill(shapes, seed)


def to_old_layout(sd: dict, mean=IMAGENET_MEAN, std=IMAGENET_STD, pixel_shape=(1, 3, 1, 1)) -> dict:
    old = {}
    for key, value in sd.items():
        if key.startswith("heads.bottleneck.0."):
            key = "heads.bnneck." + key[len("heads.bottleneck.0."):]
        elif key == "heads.weight":
            key = "heads.classifier.weight"
        old[key] = value
    old["pixel_mean"] = (torch.tensor(mean) * 255).view(pixel_shape)
    old["pixel_std"] = (torch.tensor(std) * 255).view(pixel_shape)
    return old


def save_training_checkpoint(path, model_sd: dict) -> None:
    torch.save({"model": model_sd, "optimizer": {"state": {}, "param_groups": [{"lr": 3.5e-4}]},
                "scheduler": {"last_epoch": 59}, "iteration": 12345}, path)


def eval_output(model: torch.nn.Module) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(X)


@pytest.mark.parametrize("name", ["bagtricks_R50_fastreid", "sbs_R50_fastreid"])
def test_old_layout_loads_strictly_and_matches_the_new_layout(tmp_path, name):
    reference = reid_core.create_model(name, num_classes=7)
    sd = new_layout_state(reference)
    reid_core.load_weights(reference, sd, strict=True)

    path = tmp_path / "market_bot_R50.pth"
    save_training_checkpoint(path, to_old_layout(sd))
    model = reid_core.create_model(name, num_classes=7)
    report = reid_core.load_weights(model, path, strict=True)

    assert report.ok and report.loaded == len(sd)
    assert report.unwrapped == ['["model"]']
    assert report.renamed >= 6  # five BNNeck tensors, the classifier, and the two pixel buffers
    torch.testing.assert_close(model.heads.bottleneck[0].running_var, sd["heads.bottleneck.0.running_var"])
    torch.testing.assert_close(model.heads.weight, sd["heads.weight"])
    # ImageNet statistics, as fast-reid stored them, leave the model's normalization as it was.
    assert model.mean == reference.mean and model.std == reference.std
    torch.testing.assert_close(eval_output(model), eval_output(reference))


def test_pixel_statistics_become_the_models_normalization(tmp_path):
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
    reference = reid_core.create_model("bagtricks_R50_fastreid", num_classes=7)
    sd = new_layout_state(reference)
    reid_core.load_weights(reference, sd)
    reference.attach_meta(dataclasses.replace(reference.meta, mean=mean, std=std))

    path = tmp_path / "ckpt.pth"
    save_training_checkpoint(path, to_old_layout(sd, mean, std, pixel_shape=(3,)))
    model = reid_core.create_model("bagtricks_R50_fastreid", num_classes=7)
    reid_core.load_weights(model, path, strict=True)

    assert model.mean == pytest.approx(mean, abs=1e-6) and model.std == pytest.approx(std, abs=1e-6)
    assert model.meta.name == "bagtricks_R50_fastreid"
    torch.testing.assert_close(eval_output(model), eval_output(reference))
    untouched = reid_core.create_model("bagtricks_R50_fastreid", num_classes=7)
    reid_core.load_weights(untouched, sd)
    assert not torch.allclose(eval_output(untouched), eval_output(model))


def test_agw_takes_the_learned_gem_exponent(tmp_path):
    reference = reid_core.create_model("agw_R50_fastreid", num_classes=7)
    sd = new_layout_state(reference)
    reid_core.load_weights(reference, sd)
    reference.heads.pool_layer.p = 4.25

    old = to_old_layout(sd)
    old["heads.pool_layer.p"] = torch.tensor([4.25])  # fast-reid's release AGW learned its exponent
    path = tmp_path / "market_agw_R50.pth"
    save_training_checkpoint(path, old)
    model = reid_core.create_model("agw_R50_fastreid", num_classes=7)
    reid_core.load_weights(model, path, strict=True)

    assert model.heads.pool_layer.p == pytest.approx(4.25)
    assert "heads.pool_layer.p" not in model.state_dict()
    torch.testing.assert_close(eval_output(model), eval_output(reference))


def test_new_layout_passes_through_unchanged():
    model = reid_core.create_model("sbs_R50_fastreid", num_classes=7)
    sd = new_layout_state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checkpoint in today's layout is no cause for warnings
        converted = model.convert_checkpoint(sd)
    assert converted.keys() == sd.keys()
    assert all(converted[k] is sd[k] for k in sd)
    assert model.mean == IMAGENET_MEAN


def test_rename_table_is_extensible(monkeypatch):
    model = reid_core.create_model("bagtricks_R50_fastreid", num_classes=7)
    sd = new_layout_state(model)
    sd["heads.fc.weight"] = sd.pop("heads.weight")
    with pytest.raises(CheckpointError, match=r"heads\.fc\.weight"):
        reid_core.load_weights(model, sd, strict=True)
    monkeypatch.setitem(convert.LEGACY_RENAMES, r"heads\.fc\.weight", "heads.weight")
    report = reid_core.load_weights(model, sd, strict=True)
    assert report.ok and report.renamed == 1


def test_old_mgn_layout_loads_into_the_pool_reduce_layout_only(tmp_path):
    """fast-reid v0.1 MGN: ``b*_pool.{0,1,2}`` pool-reduce blocks and a BNNeck per head."""
    model = reid_core.create_model("mgn_sbs_R50_ibn_fastreid", num_classes=7, mgn_layout="pool_reduce")
    sd = new_layout_state(model)
    reid_core.load_weights(model, sd)
    old = {}
    for key, value in sd.items():
        head, _, rest = key.partition(".")
        if head in MGN.HEADS and rest.startswith("bottleneck.0."):
            key = f"{head}.bnneck.{rest[len('bottleneck.0.'):]}"
        elif head in MGN.HEADS and rest == "weight":
            key = f"{head}.classifier.weight"
        old[key] = value
    old["pixel_mean"] = torch.tensor(IMAGENET_MEAN) * 255
    old["pixel_std"] = torch.tensor(IMAGENET_STD) * 255
    path = tmp_path / "market_mgn_R50-ibn.pth"
    save_training_checkpoint(path, old)

    loaded = reid_core.create_model("mgn_sbs_R50_ibn_fastreid", num_classes=7, mgn_layout="pool_reduce")
    report = reid_core.load_weights(loaded, path, strict=True)
    assert report.ok and report.renamed == 8 * 6 + 2  # 8 BNNecks (5 tensors) and classifiers, 2 pixel buffers
    x = torch.rand(1, 3, 96, 32)
    torch.testing.assert_close(loaded.eval()(x), model.eval()(x))

    today = reid_core.create_model("mgn_sbs_R50_ibn_fastreid", num_classes=7)
    with pytest.warns(UserWarning, match="LEGACY_RENAMES") as caught, pytest.raises(CheckpointError) as err:
        reid_core.load_weights(today, path, strict=True)
    warned = str(caught[0].message)
    pools = [k for k in old if "_pool." in k]
    assert len(pools) == 8 * 7 and all(k in warned for k in pools)  # every one of them, not only the first few
    message = str(err.value)
    assert "unexpected in the checkpoint (" in message
    assert "b33_head.bottleneck.0.weight checkpoint [256] vs model [256, 2048, 1, 1]" in message


def test_load_from_the_fastreid_source_converts(tmp_path, monkeypatch):
    """reid_core.load(..., source="fastreid") fetches the release file (here from 127.0.0.1) and converts it."""
    from ..http_server import FileServer

    name = "bagtricks_R50_fastreid"
    record = reid_core.model_info(name).weights_from("fastreid")["dukemtmcreid"]
    reference = reid_core.create_model(name, num_classes=record.num_classes, **record.build)  # the 2020 network
    sd = new_layout_state(reference)
    reid_core.load_weights(reference, sd)
    path = tmp_path / record.file_name
    save_training_checkpoint(path, to_old_layout(sd))

    server = FileServer()
    try:
        server.files["/" + hub.cache_file_name(record.url, record.cache_name)] = path.read_bytes()  # a mirror
        monkeypatch.setenv("REID_MIRROR", server.base)
        model = reid_core.load(name, "dukemtmcreid", source="fastreid", progress=False)
    finally:
        server.stop()
    assert not model.training and model.heads.weight.shape[0] == 702
    torch.testing.assert_close(eval_output(model), eval_output(reference))
