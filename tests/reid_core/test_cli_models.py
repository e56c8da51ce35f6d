import io

import reid_core
import torch

from reid_core import hub
from reid_core.cli import main

from ..http_server import FileServer
from .conftest import TinyNet, make_tiny_family
from .test_hub import catalog_for


def test_list_and_info(registry, capsys):
    registry.add_family(make_tiny_family(catalog_for("http://127.0.0.1:9/tiny-market.pth")))
    assert main(["list", "tiny_*"]) == 0
    out = capsys.readouterr().out
    assert "tiny_net" in out and "market1501" in out
    assert main(["info", "tiny_net"]) == 0
    out = capsys.readouterr().out
    params = sum(p.numel() for n, p in TinyNet(5).named_parameters() if not n.startswith("classifier"))
    assert "family:        tiny" in out and "input size:    256x128" in out
    assert f"params:        {params}" in out
    assert "market1501" in out and "mAP 0.500" in out


def test_unknown_model_exit_code(registry, capsys):
    registry.add_family(make_tiny_family())
    assert main(["info", "tiny_nett"]) == 2
    assert "did you mean: tiny_net" in capsys.readouterr().err.lower()


def test_download(registry, capsys):
    server = FileServer()
    try:
        buf = io.BytesIO()
        torch.save(TinyNet(7).state_dict(), buf)
        server.files["/tiny-market.pth"] = buf.getvalue()
        registry.add_family(make_tiny_family(catalog_for(server.url("/tiny-market.pth"))))
        assert main(["download", "tiny_net", "market1501"]) == 0
        path = capsys.readouterr().out.strip().splitlines()[-1]
        assert path == str(hub.cache_path(server.url("/tiny-market.pth"))) and open(path, "rb").read() == buf.getvalue()
    finally:
        server.stop()


def test_list_licence_column_and_info_licence(registry, capsys):
    catalog = catalog_for("http://127.0.0.1:9/tiny-market.pth")
    registry.add_family(make_tiny_family(catalog))
    other = {"format": "reid-zoo-catalog-v1", "licence": "MIT", "models": {"licensed_net": {"weights": [
        {"dataset": "market1501", "url": "http://127.0.0.1:9/l.pth", "num_classes": 5}]}}}
    fam = reid_core.Family("lic", package="reid-lic", module="tests.reid_core", catalog=other)

    @fam.register(feature_dim=8)
    def licensed_net(num_classes: int = 5, camera_num: int = 0):
        return TinyNet(num_classes)

    registry.add_family(fam)
    assert main(["list", "--licence"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["tiny_net"].endswith("licence: none stated")
    assert rows["licensed_net"].endswith("licence: MIT")
    assert main(["list"]) == 0
    assert "licence" not in capsys.readouterr().out
    assert main(["info", "licensed_net", "--no-count"]) == 0
    out = capsys.readouterr().out
    assert "licence:       MIT" in out and "licence MIT" in out


def test_info_explains_a_published_count_that_differs():
    from reid_core.cli.models import explain_params, param_parts

    model = TinyNet(5)
    parts = param_parts(model.eval(), (16, 8), camids=False)
    conv, bn, clf = 3 * 8 * 9 + 8, 2 * 8, 8 * 5
    assert (parts["inference"], parts["bn"], parts["classifier"], parts["unused"]) == (conv + bn, bn, clf, 0)

    big = {"inference": 23_540_816, "bn": 65_408, "classifier": 1_538_048, "unused": 0, "unused_names": []}
    assert explain_params(big, "23.541M") == ""
    assert "leaves out the BatchNorm layers (65.408K)" in explain_params(big, "23.475M")
    assert "includes the training classifier (1.538M)" in explain_params(big, "25.079M")
    assert "upstream counted differently" in explain_params(big, "20.000M")


def test_info_sbs_r50_says_why_the_published_params_differ(registry, capsys):
    """fast-reid's published 23.475M leaves out the 65,408 BatchNorm parameters of the trunk, NL blocks and neck."""
    import pytest

    pytest.importorskip("reid_fastreid")
    assert main(["info", "sbs_R50_fastreid"]) == 0
    out = capsys.readouterr().out
    assert "params:        23.541M used at inference (classifier excluded)   (published: 23.475M)" in out
    assert "the published count leaves out the BatchNorm layers (65.408K)" in out
