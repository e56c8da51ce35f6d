"""Every catalogued *_solider file comes through reid_core from an imitation of Google Drive."""

import io
import re

import pytest
import torch

import reid_core
from reid_core import hub

from ..host_imitations import DriveImitation, route_google_to
from ..http_server import FileServer

pytest.importorskip("gdown")

NAMES = ("swin_tiny_solider", "swin_small_solider", "swin_base_solider")


@pytest.fixture
def drive(monkeypatch):
    server = FileServer()
    route_google_to(monkeypatch, server)
    yield DriveImitation(server, large=100_000)
    server.stop()


def _small(i: int) -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.full((4,), float(i))}, buf)  # a real (tiny) checkpoint: the hub checks that
    return buf.getvalue()


def _drive_id(url: str) -> str:
    return re.fullmatch(r"https://drive\.google\.com/file/d/([-\w]+)/view\?usp=share_link", url).group(1)


def test_every_record_downloads_from_its_drive_link(drive):
    records = [r for n in NAMES for r in reid_core.model_info(n).all_weights]
    served = {}
    for i, rec in enumerate(records):
        served[rec.url] = _small(i)
        drive.add(_drive_id(rec.url), "model.pth", served[rec.url])
    for rec in records:
        path = hub.fetch_weights(rec, progress=False)
        assert path.read_bytes() == served[rec.url]
        assert path.name.startswith(rec.cache_name.removesuffix(".pth") + "-")


@pytest.mark.parametrize("dataset", ["market1501", "msmt17"])
def test_load_swin_tiny_end_to_end_through_the_confirmation_page(drive, dataset):
    rec = reid_core.weights_record("swin_tiny_solider", dataset)
    torch.manual_seed(0)
    state = reid_core.create_model("swin_tiny_solider", num_classes=rec.num_classes).state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)  # ~110 MB: large enough for Drive's virus-scan confirmation step
    drive.add(_drive_id(rec.url), "model.pth", buf.getvalue())
    model = reid_core.load("swin_tiny_solider", dataset, progress=False)
    assert drive.confirmed == 1 and model.num_classes == rec.num_classes
    key = "base.stages.2.blocks.5.attn.w_msa.proj.weight"
    assert torch.equal(model.state_dict()[key], state[key])
