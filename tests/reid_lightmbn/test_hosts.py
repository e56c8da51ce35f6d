"""Every catalogued *_lmbn file comes through reid_core: LightMBN's OneDrive folder (an imitation
of the shares API) and BoxMOT's GitHub release (through a mirror on 127.0.0.1)."""

import io

import pytest
import torch

import reid_core
from reid_core import hosts, hub

from ..host_imitations import OneDriveImitation
from ..http_server import FileServer


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.stop()


def _small(tag: str) -> bytes:
    buf = io.BytesIO()
    torch.save({"tag": torch.tensor([ord(c) for c in tag])}, buf)  # a real (tiny) checkpoint
    return buf.getvalue()


def _checkpoint(num_classes: int) -> tuple[dict, bytes]:
    torch.manual_seed(num_classes)
    state = reid_core.create_model("osnet_lmbn", num_classes=num_classes).state_dict()
    buf = io.BytesIO()
    torch.save({"state_dict": {f"model.{k}": v for k, v in state.items()}}, buf)  # as LightMBN saves
    return state, buf.getvalue()


def test_lightmbn_folder_files_load_through_the_onedrive_shares_api(server, monkeypatch):
    monkeypatch.setattr(hosts, "ONEDRIVE_API", server.url("/v1.0"))
    onedrive = OneDriveImitation(server)
    records = reid_core.model_info("osnet_lmbn").weights_from("lightmbn")
    state, data = _checkpoint(751)
    for dataset, rec in records.items():
        share, inside = rec.url.split("#")
        onedrive.add(share, data if dataset == "market1501" else _small(dataset), inside=inside)
    for dataset, rec in records.items():
        if dataset != "market1501":
            assert hub.fetch_weights(rec, progress=False).read_bytes() == _small(dataset)
    model = reid_core.load("osnet_lmbn", "market1501", source="lightmbn", progress=False)
    assert torch.equal(model.state_dict()["reduction_4.reduction.weight"], state["reduction_4.reduction.weight"])


def test_boxmot_copies_load_through_a_mirror(server, monkeypatch):
    monkeypatch.setenv("REID_MIRROR", server.url("/mirror"))
    records = reid_core.model_info("osnet_lmbn").weights_from("boxmot")
    state, data = _checkpoint(702)
    for dataset, rec in records.items():
        body = data if dataset == "dukemtmcreid" else _small(dataset)
        server.files["/mirror/" + hub.cache_file_name(rec.url, rec.cache_name)] = body
    for dataset, rec in records.items():
        if dataset != "dukemtmcreid":
            assert hub.fetch_weights(rec, progress=False).read_bytes() == _small(dataset)
    model = reid_core.load("osnet_lmbn", "dukemtmcreid", progress=False)
    assert model.num_classes == 702
    assert torch.equal(model.state_dict()["shared.0.weight"], state["shared.0.weight"])
