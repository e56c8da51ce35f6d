import sys
import textwrap
import warnings

import pytest
import torch

import reid_core
from reid_core.errors import FamilyNotInstalledError, RegistryError, UnknownModelError

from .conftest import make_tiny_family


def test_create_model_attaches_metadata_and_normalizes(tiny_family):
    model = reid_core.create_model("tiny_net", num_classes=3)
    assert (model.name, model.family, model.feature_dim) == ("tiny_net", "tiny", 8)
    assert model.mean == (0.5, 0.5, 0.5) and model.camera_aware is False
    assert model.classifier.out_features == 3
    # A 0.5-grey image is the mean: after normalization the conv sees zeros, so only its bias is left.
    model.eval()
    out = model.conv(model.normalize(torch.full((1, 3, 4, 4), 0.5)))
    assert torch.allclose(out, model.conv.bias.view(1, -1, 1, 1).expand_as(out))


def test_list_models_filters(tiny_family):
    assert "tiny_net" in reid_core.list_models()
    assert reid_core.list_models("tiny_*", family="tiny") == ["tiny_net"]
    assert reid_core.list_models("tiny_*", family="other") == []
    assert reid_core.list_models("tiny_*", pretrained=True) == []
    assert reid_core.list_models("tiny_*", pretrained=False) == ["tiny_net"]


def test_unknown_name_suggests_close_matches(tiny_family):
    with pytest.raises(UnknownModelError, match="tiny_net"):
        reid_core.create_model("tiny_nett")


def test_name_of_missing_family_says_which_extra(registry, monkeypatch):
    monkeypatch.setattr(registry, "_families", {}, raising=False)
    with pytest.raises(FamilyNotInstalledError, match=r'pip install "reid-zoo\[transreid\]"'):
        reid_core.load("vit_transreid", "msmt17")
    with pytest.raises(FamilyNotInstalledError, match=r"reid-zoo\[torchreid\]"):
        reid_core.model_info("osnet_x1_0_dpr")


def test_duplicate_name_names_both_packages(tiny_family, registry):
    with pytest.raises(RegistryError, match="reid-tiny.*reid-other|reid-other.*reid-tiny"):
        registry.add_family(make_tiny_family(name="other", package="reid-other"))


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch, registry):
    """Install two entry points on sys.path: one good family, one whose import fails."""
    (tmp_path / "fake_good_family.py").write_text(textwrap.dedent("""
        import reid_core
        from tests.reid_core.conftest import TinyNet
        family = reid_core.Family("good", package="fake-good", module="fake_good_family")

        @family.register(feature_dim=8)
        def good_net(num_classes=5, camera_num=0):
            return TinyNet(num_classes)
    """))
    (tmp_path / "fake_broken_family.py").write_text("import a_module_that_does_not_exist\n")
    for dist, module, name in (("fake_good", "fake_good_family", "good"), ("fake_broken", "fake_broken_family", "broken")):
        info = tmp_path / f"{dist}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[reid_zoo.families]\n{name} = {module}:family\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for mod in ("fake_good_family", "fake_broken_family"):
        sys.modules.pop(mod, None)


def test_broken_plugin_is_reported_and_others_work(fake_plugins, registry):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = reid_core.list_models("good_*")
        reid_core.list_models()  # discovery runs once: no second report
    assert names == ["good_net"]
    reports = [str(w.message) for w in caught if "failed to load" in str(w.message)]
    assert len(reports) == 1
    assert "fake-broken" in reports[0] and "a_module_that_does_not_exist" in reports[0]
    assert "broken" in registry.failures
    assert reid_core.create_model("good_net").family == "good"


def test_camera_protocol(tiny_family):
    model = reid_core.create_model("tiny_net").eval()
    x = torch.rand(2, 3, 8, 8)
    # not camera-aware: camids are accepted and ignored
    assert torch.equal(model(x), model(x, camids=torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="expected images"):
        model(torch.rand(2, 8, 8))
