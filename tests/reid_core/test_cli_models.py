import io

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
