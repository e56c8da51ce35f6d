"""fast-reid's release files were written by the code of 2020-07-30; their records build that network.

The expected values are facts of fast-reid at commit 1ed73fb (the commit that published the
release links): ``modeling/backbones/resnet.py`` pools the stem with padding 1;
``modeling/backbones/resnest.py`` keeps layer4 undilated and adds non-local blocks for
``WITH_NL``; ``modeling/meta_arch/mgn.py`` reduces in ``b*_pool`` modules before BNNeck heads;
``configs/Base-Strongerbaseline.yml`` (inherited by Base-MGN) tests at 384x128. The slow oracle
test (test_fastreid_oracle.py) checks the features against fast-reid's own code.
"""

import pytest
import torch

import reid_core
from reid_core.errors import CheckpointError
from reid_fastreid.backbones import build_resnest_backbone, build_resnet_backbone
from reid_fastreid.meta_arch import MGN

from .test_convert import new_layout_state, save_training_checkpoint, to_old_layout

PADDED = {"stem_pool": "padded"}
RESNEST_2020 = {"layer4_dilation": 1}
RESNEST_NL_2020 = {"layer4_dilation": 1, "non_local": True}
TALL = (384, 128)
#: release config -> (zoo model, input size the config tested at, build options of the 2020 code)
RELEASE_CONFIGS = {
    "bagtricks_R50": ("bagtricks_R50_fastreid", (256, 128), PADDED),
    "bagtricks_R50-ibn": ("bagtricks_R50_ibn_fastreid", (256, 128), PADDED),
    "bagtricks_R101-ibn": ("bagtricks_R101_ibn_fastreid", (256, 128), PADDED),
    "bagtricks_S50": ("bagtricks_S50_fastreid", (256, 128), RESNEST_2020),
    "AGW_R50": ("agw_R50_fastreid", (256, 128), PADDED),
    "AGW_R50-ibn": ("agw_R50_ibn_fastreid", (256, 128), PADDED),
    "AGW_R101-ibn": ("agw_R101_ibn_fastreid", (256, 128), PADDED),
    "AGW_S50": ("agw_S50_fastreid", (256, 128), RESNEST_NL_2020),
    "sbs_R50": ("sbs_R50_fastreid", TALL, PADDED),
    "sbs_R50-ibn": ("sbs_R50_ibn_fastreid", TALL, PADDED),
    "sbs_R101-ibn": ("sbs_R101_ibn_fastreid", TALL, PADDED),
    "sbs_S50": ("sbs_S50_fastreid", TALL, RESNEST_NL_2020),
    "mgn_R50-ibn": ("mgn_sbs_R50_ibn_fastreid", TALL, {**PADDED, "mgn_layout": "pool_reduce"}),
}


def fastreid_records():
    for name in reid_core.list_models(family="fastreid"):
        info = reid_core.model_info(name)
        if "fastreid" in info.sources:
            for dataset, record in info.weights_from("fastreid").items():
                yield name, dataset, record


def test_every_release_record_builds_the_2020_network_at_its_size():
    seen = {}
    for name, dataset, record in fastreid_records():
        config = record.config.rsplit("/", 1)[-1].removesuffix(".yml")
        expected_name, size, build = RELEASE_CONFIGS[config]
        assert name == expected_name, config
        assert dict(record.build) == build, f"{name} on {dataset}"
        assert (record.input_size or reid_core.model_info(name).input_size) == size, f"{name} on {dataset}"
        seen.setdefault(config, set()).add(dataset)
    assert set(seen) == set(RELEASE_CONFIGS)
    assert sum(len(d) for d in seen.values()) == 38  # MSMT17's MGN file was never published


def test_mgn_release_files_are_the_sbs_mgn():
    """Base-MGN inherits Base-SBS (learnable GeM, circle softmax): not the bag-of-tricks MGN."""
    assert "fastreid" not in reid_core.model_info("mgn_R50_ibn_fastreid").sources
    files = {r.file_name for r in reid_core.model_info("mgn_sbs_R50_ibn_fastreid").weights_from("fastreid").values()}
    assert files == {"market_mgn_R50-ibn.pth", "duke_mgn_R50-ibn.pth"}


def test_stem_pool_options():
    padded, ceil = build_resnet_backbone(50, stem_pool="padded"), build_resnet_backbone(50)
    assert (padded.maxpool.padding, padded.maxpool.ceil_mode) == (1, False)
    assert (ceil.maxpool.padding, ceil.maxpool.ceil_mode) == (0, True)
    x = torch.arange(2 * 7 * 7, dtype=torch.float32).view(1, 2, 7, 7)
    # 7 columns: padding 1 starts windows at -1, 1, 3, 5 (the last one partial); no padding at 0, 2, 4.
    assert padded.maxpool(x)[0, 0, 0].tolist() == [8.0, 10.0, 12.0, 13.0]
    assert ceil.maxpool(x)[0, 0, 0].tolist() == [16.0, 18.0, 20.0]
    with pytest.raises(ValueError, match="stem_pool"):
        build_resnet_backbone(50, stem_pool="same")


def test_resnest_of_2020_keeps_layer4_undilated_and_has_non_local_blocks():
    today, old = build_resnest_backbone(50), build_resnest_backbone(50, layer4_dilation=1, non_local=True)
    assert today.layer4[1].conv2.conv.dilation == (2, 2) and old.layer4[1].conv2.conv.dilation == (1, 1)
    extra = sorted(set(old.state_dict()) - set(today.state_dict()))
    assert {k.split(".")[0] + "." + k.split(".")[1] for k in extra} == {
        "NL_2.0", "NL_2.1", "NL_3.0", "NL_3.1", "NL_3.2"}
    assert old.state_dict()["NL_3.2.g.weight"].shape == (1, 1024, 1, 1)
    assert set(today.state_dict()) <= set(old.state_dict())
    old.eval()
    with torch.no_grad():
        assert old(torch.rand(1, 3, 64, 32)).shape == (1, 2048, 4, 2)


def test_code_options_are_checked_per_model():
    with pytest.raises(ValueError, match=r"stem_pool does not apply.*layer4_dilation, non_local"):
        reid_core.create_model("sbs_S50_fastreid", stem_pool="padded")
    with pytest.raises(ValueError, match="mgn_layout does not apply"):
        reid_core.create_model("sbs_R50_fastreid", mgn_layout="pool_reduce")
    with pytest.raises(ValueError, match="layout"):
        reid_core.create_model("mgn_sbs_R50_fastreid", mgn_layout="pool")


def test_mgn_pool_reduce_layout_has_the_2020_keys():
    model = reid_core.create_model("mgn_sbs_R50_ibn_fastreid", num_classes=7, mgn_layout="pool_reduce")
    sd = model.state_dict()
    for branch in ("b1", "b2", "b3", "b21", "b22", "b31", "b32", "b33"):
        assert sd[f"{branch}_pool.0.p"].shape == (1,)
        assert sd[f"{branch}_pool.1.weight"].shape == (256, 2048, 1, 1)
        assert sd[f"{branch}_pool.2.running_var"].shape == (256,)
        assert sd[f"{branch}_head.bottleneck.0.weight"].shape == (256,)
        assert sd[f"{branch}_head.weight"].shape == (7, 256)
        assert not any(k.startswith(f"{branch}_head.pool_layer") for k in sd)
    # One pooling module, as upstream: every b*_pool.0.p is the same exponent.
    assert len({id(getattr(model, name)[0]) for name in MGN.POOLS}) == 1
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 96, 32)).shape == (1, 2048)


def test_load_reads_the_number_of_classes_of_an_old_file(tmp_path):
    """load(weights=...) reads num_classes after the family renames ``heads.classifier.weight``."""
    reference = reid_core.create_model("bagtricks_R50_fastreid", num_classes=9)
    sd = new_layout_state(reference)
    path = tmp_path / "old.pth"
    save_training_checkpoint(path, to_old_layout(sd))
    model = reid_core.load("bagtricks_R50_fastreid", weights=path)
    assert model.heads.weight.shape == (9, 2048)


def test_load_from_the_fastreid_source_builds_the_records_network(tmp_path):
    record = reid_core.model_info("sbs_S50_fastreid").weights_from("fastreid")["msmt17"]
    reference = reid_core.create_model("sbs_S50_fastreid", num_classes=record.num_classes, **record.build)
    path = tmp_path / record.file_name
    save_training_checkpoint(path, to_old_layout(new_layout_state(reference)))

    model = reid_core.load("sbs_S50_fastreid", "msmt17", source="fastreid", weights=path)
    assert model.input_size == (384, 128)
    assert len(model.backbone.NL_3) == 3 and model.backbone.layer4[2].conv2.conv.dilation == (1, 1)
    # Today's network cannot take the file: the non-local blocks are left over.
    with pytest.warns(UserWarning, match="NL_2"), pytest.raises(CheckpointError, match="NL_2"):
        reid_core.load("sbs_S50_fastreid", weights=path)
