"""reid_core.backbone_weights: catalogued pretrained files, strict key mapping, where they come from."""

from __future__ import annotations

import pytest
import torch

import reid_core
from reid_core.backbone_weights import BackboneSpec, load_backbone_weights, parse_backbones
from reid_core.errors import CheckpointError, ChecksumError, RegistryError, WeightsError
from reid_core.hub import cache_file_name, cache_path, checkpoint_dir

from ..backbone_files import served, state_bytes
from ..http_server import closed_port_url
from .conftest import TinyNet, make_tiny_family

URL = "https://example.invalid/weights/tiny_in1k-0123abcd.pth"
CACHED = cache_file_name(URL)  # the name the cache (and a mirror) keeps it under
SPEC = BackboneSpec("tiny_in1k", trunk=("conv.*",), rename=(("stem.", "conv."),), drop=("fc.*",))


def imagenet_file(seed: int = 1) -> dict[str, torch.Tensor]:
    """An 'ImageNet' file in the tiny trunk's upstream layout: ``stem`` plus a 1000-way ``fc``."""
    g = torch.Generator().manual_seed(seed)
    return {
        "stem.weight": torch.randn(8, 3, 3, 3, generator=g),
        "stem.bias": torch.randn(8, generator=g),
        "fc.weight": torch.randn(1000, 8, generator=g),
        "fc.bias": torch.randn(1000, generator=g),
    }


def catalog(**record) -> dict:
    return {
        "format": "reid-zoo-catalog-v1",
        "licence": "MIT",
        "models": {},
        "backbones": {"tiny_in1k": {"url": URL, "source": "tests", **record}},
    }


@pytest.fixture
def family(registry):
    def install(spec: BackboneSpec | None = SPEC, **record):
        fam = make_tiny_family(catalog=catalog(**record))
        fam.backbone_spec = lambda name, model: spec
        registry.add_family(fam)
        return fam

    return install


def test_mapping_sets_the_trunk_and_names_what_is_dropped():
    model = TinyNet()
    head_before = model.classifier.weight.clone()
    sd = imagenet_file()
    report = load_backbone_weights(model, SPEC, sd, origin="test file")
    assert torch.equal(model.conv.weight, sd["stem.weight"]) and torch.equal(model.conv.bias, sd["stem.bias"])
    assert torch.equal(model.classifier.weight, head_before)  # outside the trunk: untouched
    assert report.ok and report.loaded == 2 and report.renamed == 2
    assert report.dropped == ["fc.weight", "fc.bias"]
    text = report.describe()
    assert "test file" in text and "fc.weight" in text and "2 tensors loaded" in text


def test_a_trunk_key_missing_from_the_file_is_an_error_naming_it_and_nothing_loads():
    model = TinyNet()
    before = model.conv.weight.clone()
    sd = imagenet_file()
    del sd["stem.bias"]
    with pytest.raises(CheckpointError, match=r"conv\.bias"):
        load_backbone_weights(model, SPEC, sd)
    assert torch.equal(model.conv.weight, before)


def test_an_unknown_file_key_and_a_wrong_shape_are_errors_naming_them():
    sd = imagenet_file()
    sd["stem.extra"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"stem\.extra -> conv\.extra"):
        load_backbone_weights(TinyNet(), SPEC, sd)
    sd = imagenet_file()
    sd["other.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"other\.weight"):
        load_backbone_weights(TinyNet(), SPEC, sd)
    sd = imagenet_file()
    sd["stem.bias"] = torch.zeros(9)
    with pytest.raises(CheckpointError, match=r"stem\.bias -> conv\.bias file \[9\] vs model \[8\]"):
        load_backbone_weights(TinyNet(), SPEC, sd)


def test_fresh_keys_are_reported_and_one_file_key_may_fill_several_copies():
    class TwoCopies(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(4, 4)
            self.b = torch.nn.Linear(4, 4)
            self.new = torch.nn.Linear(4, 4)

    sd = {"lin.weight": torch.randn(4, 4), "lin.bias": torch.randn(4)}
    spec = BackboneSpec("x", trunk=("*",), rename=(("lin.", "a."), ("lin.", "b.")), fresh=("new.*",))
    model = TwoCopies()
    report = load_backbone_weights(model, spec, {"module." + k: v for k, v in sd.items()})
    assert torch.equal(model.a.weight, sd["lin.weight"]) and torch.equal(model.b.bias, sd["lin.bias"])
    assert report.fresh == ["new.weight", "new.bias"] and report.loaded == 4
    assert report.unwrapped == ["prefix 'module.'"]
    assert "left at init" in report.describe()


def test_batchnorm_counters_absent_from_older_files_are_reported_not_missing():
    bn = torch.nn.Sequential(torch.nn.BatchNorm2d(3))
    sd = {k: v for k, v in torch.nn.BatchNorm2d(3).state_dict().items() if "num_batches" not in k}
    report = load_backbone_weights(bn, BackboneSpec("x", trunk=("*",), rename=(("", "0."),)), sd)
    assert report.counters == ["0.num_batches_tracked"] and not report.missing


def test_imagenet_comes_through_the_cache_and_the_mirror(family, monkeypatch):
    fam = family()
    sd = imagenet_file()
    with served({CACHED: sd}) as server:
        monkeypatch.setenv("REID_MIRROR", server.base)
        model = reid_core.create_model("tiny_net", backbone_weights="imagenet")
        again = reid_core.create_model("tiny_net", backbone_weights="imagenet")
        assert server.hits["/" + CACHED] == 1  # the second build reads the cache
    assert torch.equal(model.conv.weight, sd["stem.weight"]) and torch.equal(again.conv.bias, sd["stem.bias"])
    assert (checkpoint_dir() / CACHED).is_file()
    assert model.backbone_report.origin.startswith("tiny_in1k (" + URL)
    assert fam.backbones["tiny_in1k"].licence == "MIT"  # the catalog's top-level licence


def test_a_url_and_a_path_load_the_same(family, tmp_path):
    family()
    sd = imagenet_file(2)
    path = tmp_path / "mine.pth"
    path.write_bytes(state_bytes(sd))
    with served({"any/name.pth": sd}) as server:
        from_url = reid_core.create_model("tiny_net", backbone_weights=server.url("/any/name.pth"))
    from_path = reid_core.create_model("tiny_net", backbone_weights=path)
    for m in (from_url, from_path):
        assert torch.equal(m.conv.weight, sd["stem.weight"])
    assert from_path.backbone_report.origin == str(path)
    assert reid_core.create_model("tiny_net").backbone_report is None


def test_offline_the_error_names_the_url_and_where_to_put_the_file(family, monkeypatch):
    family()
    monkeypatch.setenv("REID_MIRROR", closed_port_url("").rstrip("/"))
    with pytest.raises(WeightsError) as e:
        reid_core.create_model("tiny_net", backbone_weights="imagenet")
    assert URL in str(e.value) and str(checkpoint_dir() / CACHED) in str(e.value)


def test_checksums_are_verified(family, monkeypatch):
    sd = imagenet_file()
    family(hash_prefix="0000")
    with served({CACHED: sd}) as server:
        monkeypatch.setenv("REID_MIRROR", server.base)
        with pytest.raises(ChecksumError, match="does not start with 0000"):
            reid_core.create_model("tiny_net", backbone_weights="imagenet")


def test_a_manual_file_is_read_from_the_cache_or_explained(family):
    family(manual=True, cache_name="tiny_by_hand.pth", notes="log in first")
    with pytest.raises(WeightsError, match="by hand") as e:
        reid_core.create_model("tiny_net", backbone_weights="imagenet")
    assert str(cache_path(URL, "tiny_by_hand.pth")) in str(e.value) and URL in str(e.value)
    sd = imagenet_file(3)
    checkpoint_dir().mkdir(parents=True, exist_ok=True)
    cache_path(URL, "tiny_by_hand.pth").write_bytes(state_bytes(sd))
    model = reid_core.create_model("tiny_net", backbone_weights="imagenet")
    assert torch.equal(model.conv.weight, sd["stem.weight"])


def test_no_upstream_file_and_no_spec_are_clear_errors(family, registry):
    family(BackboneSpec(None, trunk=("conv.*",), why_none="upstream raises KeyError"))
    with pytest.raises(WeightsError, match="names no ImageNet file.*upstream raises KeyError"):
        reid_core.create_model("tiny_net", backbone_weights="imagenet")
    registry.reset()
    family(None)
    with pytest.raises(WeightsError, match="declares no pretrained start"):
        reid_core.create_model("tiny_net", backbone_weights="imagenet")


def test_a_spec_naming_an_uncatalogued_file_is_a_registry_error(family):
    family(BackboneSpec("missing_id", trunk=("conv.*",)))
    with pytest.raises(RegistryError, match="missing_id.*tiny_in1k"):
        reid_core.create_model("tiny_net", backbone_weights="imagenet")


def test_a_missing_local_file_is_named(family, tmp_path):
    family()
    with pytest.raises(CheckpointError, match="nothere.pth"):
        reid_core.create_model("tiny_net", backbone_weights=tmp_path / "nothere.pth")


def test_malformed_backbones_section_is_refused():
    with pytest.raises(RegistryError, match="backbones.bad"):
        parse_backbones({"backbones": {"bad": {"sha256": None}}}, "test catalog")
    assert parse_backbones({"models": {}}, "test catalog") == {}


def test_a_mirror_serves_a_drive_file_under_its_cache_name(family, monkeypatch):
    family(url="https://drive.google.com/uc?id=1abcDEFghijKLMnopQRStuvWXyz0123", cache_name="tiny_imagenet.pth")
    sd = imagenet_file(4)
    with served({cache_file_name("https://drive.google.com/uc?id=1abcDEFghijKLMnopQRStuvWXyz0123", "tiny_imagenet.pth"): sd}) as server:
        monkeypatch.setenv("REID_MIRROR", server.base)
        model = reid_core.create_model("tiny_net", backbone_weights="imagenet")
    assert torch.equal(model.conv.weight, sd["stem.weight"])
    assert cache_path("https://drive.google.com/uc?id=1abcDEFghijKLMnopQRStuvWXyz0123", "tiny_imagenet.pth").is_file()
