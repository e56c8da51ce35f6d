"""The synthetic dataset: deterministic, in the Market-1501 layout, cached, and not solvable by colour."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from reid_core.data import build_dataset
from reid_core.data.synthetic import (
    GROUP_SIZE,
    IMAGE_SIZE,
    color_histogram_features,
    dataset_dir,
    ensure_dataset,
    synthetic,
    write_dataset,
)

from .small import NUM_IDS, small_synthetic_home


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a", seed=3, num_ids=8, num_cameras=3)
    write_dataset(tmp_path / "b", seed=3, num_ids=8, num_cameras=3)
    write_dataset(tmp_path / "c", seed=4, num_ids=8, num_cameras=3)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b
    assert len(a) > 8 * 2 * 2
    assert set(a.values()).isdisjoint(c.values())


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    home = small_synthetic_home(tmp_path_factory)
    return synthetic(home / "datasets", num_ids=NUM_IDS)


def test_read_by_the_market_reader(small) -> None:
    folder = small.root
    assert folder.name == f"synthetic-v2-0-{NUM_IDS}x6"
    market = build_dataset("market1501", folder)
    assert [r.path for r in market.gallery] == [r.path for r in small.gallery]
    assert small.num_train_pids == NUM_IDS // 2
    assert len({r.pid for r in small.query}) == NUM_IDS - NUM_IDS // 2
    assert 0 in {r.pid for r in small.gallery}, "distractors (pid 0) belong in the gallery"
    assert any(p.name.startswith("-1_") for p in (folder / "bounding_box_test").iterdir()), "junk files are written"
    assert not any(Path(r.path).name.startswith("-1_") for r in small.gallery), "junk is dropped by the reader"
    assert small.num_cameras == 6


def test_images_are_128x64_jpegs(small) -> None:
    from PIL import Image

    with Image.open(small.query[0].path) as im:
        assert im.format == "JPEG" and im.size == (IMAGE_SIZE[1], IMAGE_SIZE[0])


def test_every_query_has_a_match_in_another_camera(small) -> None:
    for q in small.query:
        assert any(g.pid == q.pid and g.camid != q.camid for g in small.gallery), q


def test_identities_come_in_groups_that_share_colours(small) -> None:
    looks = json.loads((small.root / "manifest.json").read_text())["identities"]
    groups: dict[tuple, list[dict]] = {}
    for look in looks.values():
        colours = tuple(tuple(look[k]) for k in ("torso", "pattern_colour", "legs", "accessory_colour", "hair", "skin"))
        groups.setdefault(colours, []).append(look)
    assert max(len(g) for g in groups.values()) == GROUP_SIZE
    for members in groups.values():
        patterns = [m["pattern"] for m in members]
        assert len(set(patterns)) == len(patterns), "identities with the same colours differ by pattern"


def test_cached_after_the_first_call(tmp_path: Path) -> None:
    first = ensure_dataset(seed=9, num_ids=4, num_cameras=2, root=tmp_path)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    again = ensure_dataset(seed=9, num_ids=4, num_cameras=2, root=tmp_path)
    assert again == first and (again / "manifest.json").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [first.name]


def test_default_location_follows_reid_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REID_HOME", str(tmp_path))
    assert dataset_dir(seed=2) == tmp_path / "datasets" / "synthetic-v2-2"


def test_color_histogram_features(small) -> None:
    feats = color_histogram_features(small.query[:3], stripes=4, bins=(4, 2, 2))
    assert feats.shape == (3, 4 * 16) and feats.dtype == np.float32
    # each stripe is a square-rooted distribution: unit L2 norm per stripe
    norms = np.linalg.norm(feats.reshape(3, 4, 16), axis=2)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert not np.allclose(feats[0], feats[1])
