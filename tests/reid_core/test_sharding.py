"""Sharded extraction under torchrun: 2 gloo ranks, one killed mid-run, the job resumed and merged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from reid_core import Features
from reid_core.data.base import Record
from reid_core.errors import ReidError
from reid_core.sharding import Ranks, extract_shards, merge_shards

from .conftest import TinyNet
from .data.small import NUM_IDS, small_synthetic_home

MODEL = "osnet_x0_25_dpr"  # a real registered family: the ranks are separate processes


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    home = small_synthetic_home(tmp_path_factory)
    return home / "datasets" / f"synthetic-v2-0-{NUM_IDS}x6" / "bounding_box_test"


def tiny():
    torch.manual_seed(0)
    model = TinyNet()
    return model.eval()


def records(folder: Path) -> list[Record]:
    return [Record(str(p), i, 0) for i, p in enumerate(sorted(folder.glob("*.jpg")))]


def test_shards_cover_every_image_once_and_resume_skips_finished_ones(gallery, tmp_path):
    recs = records(gallery)[:37]
    opts = dict(shard_size=8, batch_size=4, num_workers=0, progress=False, input_size=(64, 32))
    # two ranks of a world of 2, run one after the other (no process group: nothing to wait for)
    for rank in (0, 1):
        extract_shards(tiny(), recs, tmp_path, ranks=Ranks(rank, 2), **opts)
    paths = sorted(tmp_path.glob("shard-*.npz"))
    assert len(paths) == 5
    merged = merge_shards(paths)
    assert merged.paths == [r.path for r in recs]
    from reid_core import extract_features

    whole = extract_features(tiny(), recs, batch_size=4, num_workers=0, progress=False, input_size=(64, 32))
    torch.testing.assert_close(merged.feats, whole.feats, rtol=1e-5, atol=1e-6)

    stamps = {p: p.stat().st_mtime_ns for p in paths}
    paths[2].unlink()
    extract_shards(tiny(), recs, tmp_path, ranks=Ranks(0, 1), **opts)
    assert all(p.stat().st_mtime_ns == stamps[p] for p in paths if p != paths[2])
    assert paths[2].is_file()

    with pytest.raises(ReidError, match="another extraction"):
        extract_shards(tiny(), recs[:30], tmp_path, ranks=Ranks(0, 1), **opts)


def _workers(parent: int) -> dict[int, int]:
    """rank -> pid of torchrun's worker processes."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            env = dict(kv.split("=", 1) for kv in (entry / "environ").read_text().split("\0") if "=" in kv)
        except (OSError, ValueError, IndexError):
            continue
        if "RANK" in env:
            out[int(env["RANK"])] = int(entry.name)
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds torchrun's workers through /proc")
def test_torchrun_two_ranks_killed_and_resumed(gallery, tmp_path):
    out = tmp_path / "feats.npz"
    shards = tmp_path / "shards"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "reid_core", "extract", MODEL, "--random-init", "--images", str(gallery), "--out", str(out),
           "--device", "cpu", "--num-workers", "0", "--no-progress", "--batch-size", "2", "--shard-size", "4",
           "--shard-dir", str(shards), "--keep-shards"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    total = -(-len(list(gallery.glob("*.jpg"))) // 4)

    job = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(shards.glob("shard-*.npz")) and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = _workers(job.pid)
        assert 1 in workers, f"no rank 1 worker found (job exited with {job.poll()})"
        os.kill(workers[1], signal.SIGKILL)
        log = job.communicate(timeout=300)[0].decode(errors="replace")
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode != 0, log
    done = {p: p.stat().st_ino for p in shards.glob("shard-*.npz")}
    assert 0 < len(done) < total, f"the kill came too late to test anything: {len(done)} of {total} shards"
    assert not out.exists()

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(p.stat().st_ino == ino for p, ino in done.items()), "finished shards were extracted again"
    assert len(list(shards.glob("shard-*.npz"))) == total

    single = tmp_path / "single.npz"
    alone = subprocess.run([sys.executable, "-m", "reid_core", "extract", MODEL, "--random-init", "--images",
                            str(gallery), "--out", str(single), "--device", "cpu", "--num-workers", "0",
                            "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stderr
    merged, reference = Features.load(out), Features.load(single)
    assert merged.paths == reference.paths
    np.testing.assert_allclose(merged.feats.numpy(), reference.feats.numpy(), rtol=1e-4, atol=1e-5)
