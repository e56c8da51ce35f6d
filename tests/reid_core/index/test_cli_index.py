"""``reid index build|add|search|info`` in process, on the small synthetic set, with the tiny test family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reid_core.cli import main
from reid_core.data import synthetic
from reid_core.index import GalleryIndex

from ..data.small import NUM_IDS, small_synthetic_home

pytest.importorskip("faiss")

CAMERA = r"_c(\d)"


@pytest.fixture
def folders(tmp_path_factory, monkeypatch, tiny_family):
    home = small_synthetic_home(tmp_path_factory)
    monkeypatch.setenv("REID_HOME", str(home))
    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    return Path(ds.gallery[0].path).parent, Path(ds.query[0].path).parent


def test_build_info_add_search(folders, tmp_path, capsys):
    gallery, query = folders
    out = tmp_path / "ix"
    common = ["--device", "cpu", "--no-progress", "--num-workers", "0"]
    assert main(["index", "build", "tiny_net", "--random-init", "--images", str(gallery), "--out", str(out),
                 "--camera-pattern", CAMERA, *common]) == 0
    n_gallery = len(list(gallery.glob("*.jpg")))
    index = GalleryIndex.load(out)
    assert len(index) == n_gallery
    card = index.model_card
    assert card["model"] == "tiny_net" and card["input_size"] == [256, 128] and card["mean"] == [0.5, 0.5, 0.5]

    capsys.readouterr()
    assert main(["index", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"count        {n_gallery}" in text and "tiny_net" in text and "random-init" in text

    assert main(["index", "add", str(out), "--images", str(query), "--camera-pattern", CAMERA, *common]) == 0
    n_query = len(list(query.glob("*.jpg")))
    assert len(GalleryIndex.load(out)) == n_gallery + n_query

    results = tmp_path / "hits.json"
    assert main(["index", "search", str(out), "--images", str(query), "--topk", "3", "--camera-pattern", CAMERA,
                 "--out", str(results), *common]) == 0
    rows = json.loads(results.read_text())
    assert len(rows) == 3 * n_query
    # each query was added to the index above: it is its own nearest neighbour, at distance ~0
    firsts = [r for r in rows if r["rank"] == 1]
    assert all(r["path"] == r["query"] for r in firsts)
    assert max(r["distance"] for r in firsts) < 1e-5

    capsys.readouterr()
    assert main(["index", "search", str(out), "--images", str(query), "--topk", "2", "--camera-pattern", CAMERA,
                 "--exclude-same-camera", *common]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 2 * n_query
    camera = lambda path: int(Path(path).name.split("_c")[1][0])  # noqa: E731
    assert all(camera(q) != camera(g) for q, _, _, g in lines)


def test_mistakes_end_in_one_line_and_exit_2(folders, tmp_path, capsys):
    gallery, query = folders
    out = tmp_path / "ix"
    base = ["index", "build", "tiny_net", "--random-init", "--images", str(gallery), "--device", "cpu",
            "--no-progress", "--num-workers", "0"]
    assert main([*base, "--out", str(out), "--kind", "flat", "--param", "nlist=4"]) == 2
    assert "nlist" in capsys.readouterr().err
    assert main([*base, "--out", str(out), "--kind", "ivfpq"]) == 2
    err = capsys.readouterr().err
    assert "at least" in err and "kind='flat'" in err and not (out / "CURRENT").exists()
    assert main([*base, "--out", str(out)]) == 0
    assert main([*base, "--out", str(out)]) == 2
    assert "already holds an index" in capsys.readouterr().err
    assert main(["index", "search", str(out), "--images", str(query), "--topk", "0"]) == 2
    assert main(["index", "search", str(out), "--images", str(query), "--out", "x.txt"]) == 2
    assert main(["index", "info", str(tmp_path)]) == 2
    assert "not a reid-zoo gallery index" in capsys.readouterr().err


def test_search_with_another_model_is_refused(folders, tmp_path, capsys):
    gallery, query = folders
    out = tmp_path / "ix"
    assert main(["index", "build", "tiny_net", "--random-init", "--images", str(gallery), "--out", str(out),
                 "--device", "cpu", "--no-progress", "--num-workers", "0"]) == 0
    index = GalleryIndex.load(out)
    # the index says it was built with another normalization than the model now has
    index.model_card["mean"] = [0.1, 0.2, 0.3]
    index.save(out)
    assert main(["index", "search", str(out), "--images", str(query), "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "mean" in err and "not comparable" in err
    assert np.asarray(GalleryIndex.load(out).model_card["mean"]).tolist() == [0.1, 0.2, 0.3]


def test_an_index_built_at_another_input_size_is_searched_at_that_size(folders, tmp_path, capsys):
    gallery, query = folders
    out = tmp_path / "ix"
    assert main(["index", "build", "tiny_net", "--random-init", "--images", str(gallery), "--out", str(out),
                 "--input-size", "64x32", "--device", "cpu", "--no-progress", "--num-workers", "0"]) == 0
    assert np.asarray(GalleryIndex.load(out).model_card["input_size"]).tolist() == [64, 32]
    capsys.readouterr()
    assert main(["index", "search", str(out), "--images", str(query), "--device", "cpu", "--no-progress",
                 "--num-workers", "0"]) == 0
    assert capsys.readouterr().out.strip()
