"""Pretrained starts of the *_dpr models: deep-person-reid's ImageNet files (the same networks
with a 1000-way classifier), which its init_pretrained_weights loads by name and shape."""

from __future__ import annotations

import pytest
import torch

import reid_core
from reid_core.backbone_weights import load_backbone_weights
from reid_core.errors import WeightsError
from reid_core.hub import cache_path
from reid_core.registry import REGISTRY

from ..backbone_files import assert_params_from


def spec_of(model):
    family, _ = REGISTRY.lookup(model.name)
    return family.backbone_spec(model.name, model)


def test_every_model_has_a_catalogued_file():
    family, _ = REGISTRY.lookup("osnet_x1_0_dpr")
    for name in reid_core.list_models(family="torchreid"):
        assert name.replace("_dpr", "_imagenet") in family.backbones
    assert family.backbones["osnet_x0_25_imagenet"].file_name == "osnet_x0_25_imagenet.pth"


@torch.no_grad()
@pytest.mark.parametrize("arch", ["osnet_x0_25", "osnet_ain_x0_25"])
def test_deep_person_reid_layout_loads_and_gives_its_features(arch):
    models = pytest.importorskip("torchreid.reid.models")
    torch.manual_seed(0)
    ref = models.build_model(arch, num_classes=1000, pretrained=False).eval()
    sd = ref.state_dict()
    model = reid_core.create_model(arch + "_dpr").eval()
    classifier = model.classifier.weight.clone()
    report = load_backbone_weights(model, spec_of(model), sd)
    assert report.dropped == ["classifier.weight", "classifier.bias"]
    assert report.fresh == ["classifier.weight", "classifier.bias"]  # kept at init, as upstream
    assert torch.equal(model.classifier.weight, classifier)
    assert_params_from(model, sd, {k: [k] for k in sd if not k.startswith("classifier.")})
    x = torch.rand(2, 3, 64, 32)
    assert torch.allclose(model.forward_features(x, None), ref(x), atol=1e-5)


@torch.no_grad()
def test_a_dataparallel_file_in_the_same_layout_loads_strictly():
    # without deep-person-reid installed: the model's own layout, 1000 classes, saved from DataParallel
    torch.manual_seed(1)
    own = reid_core.create_model("osnet_x0_25_dpr", num_classes=1000).state_dict()
    model = reid_core.create_model("osnet_x0_25_dpr")
    report = load_backbone_weights(model, spec_of(model), {"module." + k: v for k, v in own.items()})
    assert report.unwrapped == ["prefix 'module.'"] and report.loaded == len(own) - 2
    del own["conv3.0.conv1.conv.weight"]
    with pytest.raises(reid_core.errors.CheckpointError, match=r"conv3\.0\.conv1\.conv\.weight"):
        load_backbone_weights(model, spec_of(model), own)


def test_mlfn_file_must_be_downloaded_by_hand():
    with pytest.raises(WeightsError, match="mega.nz") as e:
        reid_core.create_model("mlfn_dpr", backbone_weights="imagenet")
    record = reid_core.list_families()["torchreid"].backbones["mlfn_imagenet"]
    assert str(cache_path(record.url, record.file_name)) in str(e.value)
