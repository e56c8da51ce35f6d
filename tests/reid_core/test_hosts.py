"""Downloads from where upstream weights really live, against local imitations of each host."""

import hashlib
import io
import os
from pathlib import Path

import pytest
import torch

import reid_core
from reid_core import hosts, hub
from reid_core.errors import WeightsError

from ..host_imitations import DriveImitation, HubImitation, OneDriveImitation, route_google_to
from ..http_server import FileServer, closed_port_url
from .conftest import make_tiny_family

gdown = pytest.importorskip("gdown")
huggingface_hub = pytest.importorskip("huggingface_hub")

DRIVE_ID = "1BVaZo93kOksYLjFNH3Gf7JxIbPlWSkcO"  # the form of upstream's ids (this is CLIP-ReID's)
SHARE = "https://1drv.ms/u/s!Ap1wlV4d0agrao4DxXe8loc_k30?e=I9PJXP"  # LightMBN's folder link


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.stop()


@pytest.fixture
def cdn():
    s = FileServer()
    yield s
    s.stop()


def ckpt(n=300_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    buf = io.BytesIO()
    torch.save({"w": torch.randn(n // 4, generator=g)}, buf)
    return buf.getvalue()


# ---- URL -> plan ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "kind", "key"),
    [
        ("https://github.com/o/r/releases/download/v1/w.pth", "http", "https://github.com/o/r/releases/download/v1/w.pth"),
        (f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=share_link", "gdrive", f"gdrive:{DRIVE_ID}"),
        (f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=sharing", "gdrive", f"gdrive:{DRIVE_ID}"),
        (f"https://drive.google.com/open?id={DRIVE_ID}", "gdrive", f"gdrive:{DRIVE_ID}"),
        (f"https://drive.google.com/uc?id={DRIVE_ID}&export=download", "gdrive", f"gdrive:{DRIVE_ID}"),
        ("https://huggingface.co/org/repo/resolve/main/model.safetensors", "hf", "hf:model:org/repo@main/model.safetensors"),
        ("https://huggingface.co/org/repo/blob/v1.0/sub/w.pth", "hf", "hf:model:org/repo@v1.0/sub/w.pth"),
        ("https://huggingface.co/datasets/org/d/resolve/main/w.pth", "hf", "hf:dataset:org/d@main/w.pth"),
        ("hf://org/repo/w.pth", "hf", "hf:model:org/repo@main/w.pth"),
        ("hf://org/repo@abc123/w.pth", "hf", "hf:model:org/repo@abc123/w.pth"),
        (SHARE, "onedrive", f"onedrive:{SHARE}"),
        (SHARE + "#lmbn_n_market.pth", "onedrive", f"onedrive:{SHARE}#lmbn_n_market.pth"),
    ],
)
def test_plans(url, kind, key):
    plan = hosts.plan_for(url)
    assert (plan.kind, plan.key) == (kind, key)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://drive.google.com/drive/folders/1AbCdEfGhIjKlMnOpQrStUvWxYz", "folder"),
        ("https://drive.google.com/file/d/", "file id"),
        ("https://huggingface.co/org/repo", "repository and file"),
        ("ftp://example.org/w.pth", "unsupported"),
        ("https://onedrive.live.com/about/en-us/", "share link"),
    ],
)
def test_unsupported_urls_say_why(url, message):
    with pytest.raises(WeightsError, match=message):
        hosts.plan_for(url)


def test_onedrive_content_url_is_the_shares_api_with_the_encoded_link():
    # the OneDrive API's rule: base64url of the link, padding removed, "u!" in front
    url = hosts.onedrive_content_url("https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1")
    assert url == (
        "https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZXNpZD0xMjMxMjQ0MTkzOTEyITEy"
        "JmF1dGhLZXk9MTIwMTkxOSExMjkyMSEx/root/content"
    )
    assert hosts.onedrive_content_url(SHARE + "#models/lmbn n.pth").endswith("/root:/models/lmbn%20n.pth:/content")


def test_every_catalogued_record_has_a_host_plan():
    """Every installed family's every record: a supported host and a distinct cache file."""
    seen: dict[str, str] = {}
    fetched_by: dict[str, str] = {}
    records = 0
    for name in reid_core.list_models(pretrained=True):
        for record in reid_core.model_info(name).all_weights:
            what = f"{name}/{record.source}/{record.dataset}"
            plan = hosts.plan_for(record.url)
            assert plan.kind in ("http", "gdrive", "hf", "onedrive"), (what, record.url)
            if plan.kind in ("gdrive", "onedrive") and not plan.name:
                assert record.cache_name, f"{what}: a {plan.where} URL needs a cache_name"
            cached = hub.cache_file_name(record.url, record.cache_name)
            assert "?" not in cached and "/" not in cached
            assert seen.setdefault(cached, plan.key) == plan.key, f"{cached} would hold two different files"
            other = fetched_by.setdefault(plan.key, what)
            assert other == what, (
                f"{what} and {other} would download the same bytes from {record.url}; a link to a shared "
                "folder must name the file inside it (OneDrive: append #<file name>)"
            )
            records += 1
    assert records > 0


# ---- Google Drive -----------------------------------------------------------------------------

@pytest.fixture
def drive(server, monkeypatch):
    route_google_to(monkeypatch, server)
    return DriveImitation(server, large=100_000)


def test_every_catalogued_drive_and_onedrive_file_arrives_through_its_host(drive, server, monkeypatch):
    """Each installed family's Drive and OneDrive records, fetched as load() fetches them, from imitations."""
    monkeypatch.setattr(hosts, "ONEDRIVE_API", server.url("/v1.0"))
    onedrive = OneDriveImitation(server)
    expected = {}
    for name in reid_core.list_models(pretrained=True):
        for record in reid_core.model_info(name).all_weights:
            plan = hosts.plan_for(record.url)
            if plan.kind not in ("gdrive", "onedrive") or plan.key in expected:
                continue
            data = ckpt(2_000, seed=len(expected))
            if plan.kind == "gdrive":
                drive.add(plan.target, record.file_name, data)
            else:
                link, _, inside = record.url.partition("#")
                onedrive.add(link, data, inside=inside)
            expected[plan.key] = (record, data)
    assert len(expected) >= 30  # the newer families keep their files on Drive and OneDrive
    for record, data in expected.values():
        path = hub.fetch_weights(record, progress=False)
        assert path.read_bytes() == data, record.url


def test_drive_small_file(drive):
    data = ckpt(20_000)
    url = drive.add(DRIVE_ID, "model.pth", data)
    path = hub.fetch_file(url, file_name="market1501-x_clipreid.pth", progress=False)
    assert path.read_bytes() == data and path.name.startswith("market1501-x_clipreid-")
    assert drive.confirmed == 0


def test_drive_large_file_goes_through_the_confirmation_page(drive):
    data = ckpt(400_000)
    url = drive.add(DRIVE_ID, "model.pth", data)
    path = hub.fetch_file(url, file_name="big.pth", progress=False)
    assert path.read_bytes() == data and drive.confirmed == 1
    assert Path(str(path) + ".sha256").read_text().strip() == hashlib.sha256(data).hexdigest()
    drive.server.stop()  # later loads need no network
    assert hub.fetch_file(url, file_name="big.pth", progress=False) == path


def test_drive_quota_page_is_not_kept(drive, server):
    # Drive answers an over-quota file with an HTML page where the file should be
    server.routes.insert(0, (r"/uc\?.*", lambda m, p, h: (200, {"Content-Type": "text/html"},
                                                          b'<html><p class="uc-error-subcaption">Too many users '
                                                          b"have viewed or downloaded this file recently.</p></html>")))
    url = drive.add(DRIVE_ID, "model.pth", ckpt(20_000))
    with pytest.raises(WeightsError) as err:
        hub.fetch_file(url, file_name="q.pth", progress=False)
    msg = str(err.value)
    assert "Too many users" in msg and url in msg and str(hub.cache_path(url, "q.pth")) in msg
    assert not hub.cache_path(url, "q.pth").exists()


def test_drive_offline_error_names_url_and_path(monkeypatch):
    import requests.adapters

    def refuse(self, request, *args, **kwargs):
        raise requests.exceptions.ConnectionError("network is unreachable")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    url = f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=share_link"
    with pytest.raises(WeightsError) as err:
        hub.fetch_file(url, file_name="m.pth", progress=False, what="m on msmt17")
    msg = str(err.value)
    assert url in msg and str(hub.cache_path(url, "m.pth")) in msg and "Google Drive" in msg and "m on msmt17" in msg


def test_mirror_serves_drive_files_by_cache_name(server, monkeypatch):
    url = f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=share_link"
    name = hub.cache_file_name(url, "m.pth")
    server.files["/mirror/" + name] = data = ckpt()
    monkeypatch.setenv("REID_MIRROR", server.url("/mirror"))
    assert hub.fetch_file(url, file_name="m.pth", progress=False).read_bytes() == data


def test_load_from_drive_end_to_end(drive, registry):
    torch.manual_seed(3)
    from .conftest import TinyNet

    state = TinyNet(num_classes=7).state_dict()
    buf = io.BytesIO()
    torch.save({"model": state}, buf)
    url = drive.add(DRIVE_ID, "model_best.pth", buf.getvalue() + b"")
    catalog = {"format": "reid-zoo-catalog-v1", "models": {"tiny_net": {"weights": [
        {"dataset": "msmt17", "url": url, "sha256": None, "num_classes": 7, "cache_name": "msmt17-tiny_net.pth"},
    ]}}}
    registry.add_family(make_tiny_family(catalog))
    model = reid_core.load("tiny_net", "msmt17", progress=False)
    assert torch.equal(model.conv.weight, state["conv.weight"])
    assert hub.cache_path(url, "msmt17-tiny_net.pth").is_file()


# ---- Hugging Face Hub -------------------------------------------------------------------------

@pytest.fixture
def hf(server, cdn, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    monkeypatch.setenv("HF_HOME", os.path.join(os.environ["REID_HOME"], "hf-home"))  # no user token or cache
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return HubImitation(server, cdn)


def test_hub_file_through_the_resolve_protocol(hf, server, cdn):
    data = ckpt()
    url = hf.add("someone/reid-models", "market/model.pth", data)
    path = hub.fetch_file(url, progress=False)
    assert path.read_bytes() == data and path.name.startswith("model-") and path.suffix == ".pth"
    assert any("/resolve/main/market/model.pth" in p for p in server.hits)
    assert cdn.hits[f"/repos/{hashlib.sha256(data).hexdigest()}"] == 1
    # hf_hub_download's scratch folder and metadata are gone; only our files remain
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(path.name + s for s in ("", ".lock", ".sha256"))


def test_hub_safetensors_with_hf_scheme_and_revision(hf):
    from safetensors.torch import save

    data = save({"w": torch.arange(6.0)})
    hf.add("org/repo", "w.safetensors", data, revision="v2")
    path = hub.fetch_file("hf://org/repo@v2/w.safetensors", progress=False)
    assert torch.equal(reid_core.read_checkpoint(path)["w"], torch.arange(6.0))


def test_hub_missing_file_error_names_url_and_path(hf):
    url = "https://huggingface.co/org/repo/resolve/main/absent.pth"
    with pytest.raises(WeightsError) as err:
        hub.fetch_file(url, progress=False)
    msg = str(err.value)
    assert url in msg and str(hub.cache_path(url)) in msg and "Hugging Face" in msg


def test_hub_truncated_cdn_body_is_refused(hf, cdn):
    data = ckpt()
    url = hf.add("org/repo", "t.pth", data)
    cdn.mode[f"/repos/{hashlib.sha256(data).hexdigest()}"] = "truncate"
    with pytest.raises(WeightsError):
        hub.fetch_file(url, progress=False)
    assert not hub.cache_path(url).exists()


# ---- OneDrive ---------------------------------------------------------------------------------

@pytest.fixture
def onedrive(server, monkeypatch):
    monkeypatch.setattr(hosts, "ONEDRIVE_API", server.url("/v1.0"))
    return OneDriveImitation(server)


def test_onedrive_shared_file(onedrive):
    data = ckpt()
    url = onedrive.add(SHARE, data)
    path = hub.fetch_file(url, file_name="lmbn_n_market.pth", progress=False)
    assert path.read_bytes() == data and path.name.startswith("lmbn_n_market-")


def test_onedrive_files_in_a_shared_folder_are_distinct(onedrive):
    a, b = ckpt(seed=1), ckpt(seed=2)
    url_a = onedrive.add(SHARE, a, inside="lmbn_n_market.pth")
    url_b = onedrive.add(SHARE, b, inside="lmbn_n_duke.pth")
    path_a = hub.fetch_file(url_a, progress=False)
    path_b = hub.fetch_file(url_b, progress=False)
    assert path_a.read_bytes() == a and path_b.read_bytes() == b
    assert path_a.name.startswith("lmbn_n_market-") and path_b.name.startswith("lmbn_n_duke-")


def test_onedrive_offline_error_names_url_and_path(monkeypatch):
    monkeypatch.setattr(hosts, "ONEDRIVE_API", closed_port_url("/v1.0"))
    with pytest.raises(WeightsError) as err:
        hub.fetch_file(SHARE, file_name="x.pth", progress=False)
    msg = str(err.value)
    assert SHARE in msg and str(hub.cache_path(SHARE, "x.pth")) in msg and "OneDrive" in msg
