"""The weights cache against a real HTTP server on 127.0.0.1."""

import hashlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import reid_core
from reid_core import hub
from reid_core.errors import ChecksumError, WeightsError

from ..http_server import FileServer, closed_port_url
from .conftest import TinyNet, make_tiny_family

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.stop()


def blob(n=300_000, seed=0):
    """Random bytes: what a download of something that is not a checkpoint brings."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n,), generator=g, dtype=torch.uint8).numpy().tobytes()


def ckpt(n=300_000, seed=0):
    """The bytes of a real checkpoint of about ``n`` bytes (torch.save's zip format)."""
    g = torch.Generator().manual_seed(seed)
    buf = io.BytesIO()
    torch.save({"w": torch.randn(n // 4, generator=g)}, buf)
    return buf.getvalue()


def test_download_records_checksum_and_shows_progress(server, capfd):
    data = ckpt()
    server.files["/w/a.pth"] = data
    path = hub.fetch_file(server.url("/w/a.pth"))
    assert path == hub.cache_path(server.url("/w/a.pth")) and path.read_bytes() == data
    assert path.name.startswith("a-") and path.suffix == ".pth"
    assert Path(str(path) + ".sha256").read_text().strip() == hashlib.sha256(data).hexdigest()
    err = capfd.readouterr().err
    assert "a.pth" in err and "100%" in err  # tqdm's bar
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(path.name + s for s in ("", ".lock", ".sha256"))


def test_cache_hit_needs_no_server(server):
    server.files["/a.pth"] = ckpt()
    url = server.url("/a.pth")
    first = hub.fetch_file(url, progress=False)
    server.stop()
    assert hub.fetch_file(url, progress=False) == first
    assert server.hits["/a.pth"] == 1


def test_mirror_replaces_host_and_serves_the_cache_names(server, monkeypatch):
    url = closed_port_url("/releases/download/v1/b.pth")
    name = hub.cache_file_name(url)
    server.files["/mirror/" + name] = ckpt(1000)
    monkeypatch.setenv("REID_MIRROR", server.url("/mirror/"))
    path = hub.fetch_file(url, progress=False)
    assert path.name == name and server.hits["/mirror/" + name] == 1


def test_mirror_can_be_a_folder(tmp_path, monkeypatch):
    url = "https://github.com/o/r/releases/download/v1/w.pth"
    (tmp_path / hub.cache_file_name(url)).write_bytes(data := ckpt(1000))
    monkeypatch.setenv("REID_MIRROR", tmp_path.as_uri())
    assert hub.fetch_file(url, progress=False).read_bytes() == data


def test_corrupted_cache_refused_offline_and_replaced_online(server):
    data = ckpt()
    server.files["/c.pth"] = data
    url = server.url("/c.pth")
    path = hub.fetch_file(url, progress=False)
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    server.mode["/c.pth"] = "truncate"  # the source is unreachable in effect
    with pytest.raises(ChecksumError, match=str(path)):
        hub.fetch_file(url, progress=False)
    server.mode.clear()
    assert hub.fetch_file(url, progress=False).read_bytes() == data


def test_catalogued_sha256_is_enforced(server):
    server.files["/d.pth"] = ckpt()
    with pytest.raises(ChecksumError, match="expected 00ff"):
        hub.fetch_file(server.url("/d.pth"), sha256="00ff" * 16, progress=False)
    assert not hub.cache_path(server.url("/d.pth")).exists()


def test_truncated_download_never_reaches_the_final_name(server):
    server.files["/e.pth"] = ckpt()
    server.mode["/e.pth"] = "truncate"
    with pytest.raises(WeightsError, match="incomplete download"):
        hub.fetch_file(server.url("/e.pth"), progress=False)
    assert [p.name for p in hub.checkpoint_dir().iterdir()] == [hub.cache_file_name(server.url("/e.pth")) + ".lock"]


def test_killed_download_leaves_no_final_file(server):
    server.files["/f.pth"] = blob(2_000_000)
    server.mode["/f.pth"] = "stall"
    # The child kills itself (SIGKILL: no cleanup runs) once its own partial file holds most of
    # what the server sends before it stalls: it surely dies mid-download, never before it began.
    code = f"""
import os, signal, threading, time
from reid_core import hub

folder = hub.checkpoint_dir()
before = set(folder.glob("*.partial")) if folder.is_dir() else set()

def die_mid_download():
    while True:
        for p in set(folder.glob("*.partial")) - before:
            try:
                if p.stat().st_size >= 900_000:  # of the 1,000,000 bytes sent before the stall
                    os.kill(os.getpid(), signal.SIGKILL)
            except FileNotFoundError:
                pass
        time.sleep(0.02)

threading.Thread(target=die_mid_download, daemon=True).start()
hub.fetch_file({server.url('/f.pth')!r}, progress=False)
"""
    proc = subprocess.run([sys.executable, "-c", code], env=os.environ.copy(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr  # it died, rather than finishing or failing
    names = [p.name for p in hub.checkpoint_dir().iterdir()]
    assert any(n.endswith(".partial") for n in names), names  # it was mid-download
    assert hub.cache_file_name(server.url("/f.pth")) not in names


def test_leftovers_of_killed_downloads_are_removed_by_the_next_one(server):
    server.files["/m.pth"] = data = ckpt()
    path = hub.cache_path(server.url("/m.pth"))
    path.parent.mkdir(parents=True)
    stale = [path.with_name(path.name + ".x1y2z3.partial"), path.with_name(path.name + ".hf-abc")]
    stale[0].write_bytes(b"half")
    stale[1].mkdir()
    other = path.with_name("other.pth.x.partial")  # another file's download in flight: not ours to touch
    other.write_bytes(b"busy")
    assert hub.fetch_file(server.url("/m.pth"), progress=False).read_bytes() == data
    assert not any(p.exists() for p in stale) and other.exists()


def test_concurrent_processes_download_once(server):
    data = ckpt(1_000_000)
    server.files["/g.pth"] = data
    server.delay = 0.5  # keep the first download in flight while the others arrive
    code = f"from reid_core import hub; print(hub.fetch_file({server.url('/g.pth')!r}, progress=False))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1 and Path(outs[0]).read_bytes() == data
    assert server.hits["/g.pth"] == 1


def catalog_for(url, sha256=None):
    return {
        "format": "reid-zoo-catalog-v1",
        "models": {"tiny_net": {"weights": [
            {"dataset": "market1501", "url": url, "sha256": sha256, "num_classes": 7, "metrics": {"mAP": 0.5}},
        ]}},
    }


def test_load_downloads_builds_and_verifies(server, registry, tiny_state):
    torch.manual_seed(3)
    state = TinyNet(num_classes=7).state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    server.files["/tiny-market.pth"] = buf.getvalue()
    registry.add_family(make_tiny_family(catalog_for(server.url("/tiny-market.pth"))))
    model = reid_core.load("tiny_net", "market1501", progress=False)
    assert not model.training and model.classifier.out_features == 7
    assert torch.equal(model.conv.weight, state["conv.weight"])
    assert reid_core.model_info("tiny_net").weights["market1501"].metrics["mAP"] == 0.5
    assert reid_core.list_models("tiny_*", pretrained=True) == ["tiny_net"]


def test_offline_error_names_model_dataset_url_and_path(registry):
    url = closed_port_url("/releases/tiny-market.pth")
    registry.add_family(make_tiny_family(catalog_for(url)))
    with pytest.raises(WeightsError) as err:
        reid_core.load("tiny_net", "market1501", progress=False)
    msg = str(err.value)
    assert "tiny_net on market1501" in msg and url in msg
    assert str(hub.cache_path(url)) in msg


def test_unknown_dataset_lists_available(registry):
    registry.add_family(make_tiny_family(catalog_for(closed_port_url())))
    with pytest.raises(WeightsError, match="available: market1501"):
        reid_core.load("tiny_net", "msmt17")


def test_load_with_local_weights_infers_classes(tmp_path, registry):
    registry.add_family(make_tiny_family())
    torch.manual_seed(4)
    state = TinyNet(num_classes=11).state_dict()
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
    model = reid_core.load("tiny_net", weights=path)
    assert model.classifier.out_features == 11 and torch.equal(model.conv.weight, state["conv.weight"])


# ---- issue 15: nothing incomplete, compressed, colliding or unreadable is ever trusted ----

def cached_files():
    folder = hub.checkpoint_dir()
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.is_dir() else []


def test_body_cut_short_without_content_length_is_refused(server):
    server.files["/nolen.pth"] = ckpt()
    server.mode["/nolen.pth"] = "no-length-truncate"
    with pytest.raises(WeightsError, match="not a whole checkpoint") as err:
        hub.fetch_file(server.url("/nolen.pth"), progress=False)
    assert "nothing was kept" in str(err.value)
    assert cached_files() == []  # neither the file nor a checksum record
    server.mode.clear()  # a good server afterwards gives the good file, not the recorded bad one
    assert hub.fetch_file(server.url("/nolen.pth"), progress=False).read_bytes() == server.files["/nolen.pth"]


def test_content_length_shorter_than_the_body_is_refused(server):
    server.files["/short.pth"] = ckpt()
    server.mode["/short.pth"] = "short-length"
    with pytest.raises(WeightsError, match="not a whole checkpoint"):
        hub.fetch_file(server.url("/short.pth"), progress=False)
    assert cached_files() == []


def test_safetensors_cut_short_is_refused(server):
    from safetensors.torch import save

    data = save({"w": torch.randn(50_000)})
    server.files["/cut.safetensors"] = data
    server.mode["/cut.safetensors"] = "no-length-truncate"
    with pytest.raises(WeightsError, match="safetensors header describes"):
        hub.fetch_file(server.url("/cut.safetensors"), progress=False)
    server.mode.clear()
    path = hub.fetch_file(server.url("/cut.safetensors"), progress=False)
    assert path.name.endswith(".safetensors") and path.read_bytes() == data


def test_gzip_content_encoding_is_decoded(server):
    data = ckpt()
    server.files["/gz.pth"] = data
    server.mode["/gz.pth"] = "gzip"
    path = hub.fetch_file(server.url("/gz.pth"), progress=False)
    assert path.read_bytes() == data
    assert Path(str(path) + ".sha256").read_text().strip() == hashlib.sha256(data).hexdigest()


def test_a_page_instead_of_the_file_is_refused(server):
    server.files["/login.pth"] = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
    with pytest.raises(WeightsError, match="HTML page"):
        hub.fetch_file(server.url("/login.pth"), progress=False)
    assert cached_files() == []


def test_legacy_torch_files_are_accepted(server):
    buf = io.BytesIO()
    torch.save({"w": torch.arange(10.0)}, buf, _use_new_zipfile_serialization=False)
    server.files["/old.pth"] = buf.getvalue()
    path = hub.fetch_file(server.url("/old.pth"), progress=False)
    assert torch.equal(reid_core.read_checkpoint(path)["w"], torch.arange(10.0))


def test_urls_with_the_same_file_name_do_not_share_a_cache_file(server):
    a, b = ckpt(seed=1), ckpt(seed=2)
    server.files["/a/osnet.pth"] = a
    server.files["/b/osnet.pth"] = b
    path_a = hub.fetch_file(server.url("/a/osnet.pth"), progress=False)
    path_b = hub.fetch_file(server.url("/b/osnet.pth"), progress=False)
    assert path_a != path_b and path_a.read_bytes() == a and path_b.read_bytes() == b
    assert path_a.name.startswith("osnet-") and path_a.suffix == ".pth"  # still readable


def test_query_strings_stay_out_of_file_names(server):
    server.files["/dl/w.pth?raw=true&token=x"] = ckpt()
    path = hub.fetch_file(server.url("/dl/w.pth?raw=true&token=x"), progress=False)
    assert "?" not in path.name and "token" not in path.name and path.name.startswith("w-")


def test_catalogued_cache_name_is_used_for_urls_without_one(registry, tmp_path):
    path = hub.cache_path("https://drive.google.com/file/d/1BVaZo93kOksYLjFNH3Gf7JxIbPlWSkcO/view?usp=share_link",
                          "msmt17-vit_b16_clipreid.pth")
    assert path.name.startswith("msmt17-vit_b16_clipreid-") and path.suffix == ".pth"
    same = hub.cache_path("https://drive.google.com/file/d/1BVaZo93kOksYLjFNH3Gf7JxIbPlWSkcO/view?usp=sharing",
                          "msmt17-vit_b16_clipreid.pth")
    assert same == path  # the same Drive file, whatever the share link's query


def test_unloadable_cached_file_is_fetched_again(server):
    data = ckpt()
    server.files["/h.pth"] = data
    url = server.url("/h.pth")
    path = hub.cache_path(url)
    path.parent.mkdir(parents=True)
    path.write_bytes(data[: len(data) // 2])  # someone copied half a file in by hand
    assert hub.fetch_file(url, progress=False).read_bytes() == data


def test_unloadable_cached_file_offline_says_delete_and_retry(server):
    url = closed_port_url("/i.pth")
    path = hub.cache_path(url)
    path.parent.mkdir(parents=True)
    path.write_bytes(ckpt()[:1000])
    with pytest.raises(WeightsError) as err:
        hub.fetch_file(url, progress=False)
    assert f"Delete {path} and retry" in str(err.value) and "not a loadable checkpoint" in str(err.value)


def test_load_of_an_unreadable_cached_file_says_delete_and_retry(server, registry):
    url = server.url("/tiny-bad.pth")
    # a file that passes the cache's checks but that torch cannot read: a zip of something else
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not a checkpoint")
    server.files["/tiny-bad.pth"] = buf.getvalue()
    registry.add_family(make_tiny_family(catalog_for(url)))
    with pytest.raises(reid_core.CheckpointError) as err:
        reid_core.load("tiny_net", "market1501", progress=False)
    assert f"delete {hub.cache_path(url)} and retry" in str(err.value)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_cached_files_get_the_umask_mode(server, umask_027):
    server.files["/j.pth"] = ckpt()
    path = hub.fetch_file(server.url("/j.pth"), progress=False)
    assert path.stat().st_mode & 0o777 == 0o640
    assert Path(str(path) + ".sha256").stat().st_mode & 0o777 == 0o640


def _make_read_only(folder: Path, request) -> None:
    """chmod, and for root (whom chmod does not stop) the immutable attribute; skip if neither holds."""
    folder.chmod(0o555)
    request.addfinalizer(lambda: folder.chmod(0o755))
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a folder read-only for root here")
        request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(folder)], check=True))
    try:
        (folder / "probe").touch()
    except OSError:
        return
    (folder / "probe").unlink()
    pytest.skip("the folder stays writable")


@pytest.mark.parametrize("lock_file", [False, True])
def test_read_only_cache_serves_files_already_there(server, request, lock_file):
    data = ckpt()
    server.files["/k.pth"] = data
    url = server.url("/k.pth")
    path = hub.fetch_file(url, progress=False)
    if not lock_file:
        Path(str(path) + ".lock").unlink()  # a cache prepared elsewhere and copied in
    _make_read_only(path.parent, request)
    server.stop()
    assert hub.fetch_file(url, progress=False) == path


def test_read_only_cache_without_the_file_gives_a_clear_error(request, monkeypatch):
    home = Path(os.environ["REID_HOME"])
    (home / "checkpoints").mkdir(parents=True)
    _make_read_only(home / "checkpoints", request)
    url = closed_port_url("/l.pth")
    with pytest.raises(WeightsError) as err:
        hub.fetch_file(url, progress=False)
    msg = str(err.value)
    assert "not writable" in msg and str(hub.cache_path(url)) in msg and url in msg and "REID_HOME" in msg
