"""``reid eval``, ``reid extract`` and ``reid bench extract`` end to end, in process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import reid_core
import torch
from reid_core.cli import main
from reid_core.data import eval_transforms, read_image, synthetic

from .data.small import NUM_IDS, small_synthetic_home


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = small_synthetic_home(tmp_path_factory)
    monkeypatch.setenv("REID_HOME", str(path))
    return path


def brute_force_map(q: np.ndarray, g: np.ndarray, qp, gp, qc, gc) -> tuple[float, float]:
    """mAP and rank-1 the slow, obvious way (cosine distance, Market-1501 filter)."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    aps, top1 = [], []
    for i in range(len(q)):
        keep = [j for j in range(len(g)) if not (gp[j] == qp[i] and gc[j] == qc[i])]
        order = sorted(keep, key=lambda j: (1 - q[i] @ g[j], j))
        hits = [gp[j] == qp[i] for j in order]
        if not any(hits):
            continue
        found, precisions = 0, []
        for rank, hit in enumerate(hits, 1):
            if hit:
                found += 1
                precisions.append(found / rank)
        aps.append(sum(precisions) / found)
        top1.append(float(hits[0]))
    return float(np.mean(aps)), float(np.mean(top1))


def test_eval_prints_the_table_and_writes_json(home: Path, tiny_family, tmp_path: Path, capsys) -> None:
    out = tmp_path / "res" / "eval.json"
    code = main(["eval", "tiny_net", "--dataset", "synthetic", "--dataset-arg", f"num_ids={NUM_IDS}", "--random-init",
                 "--device", "cpu", "--batch-size", "16", "--num-workers", "0", "--no-progress", "--json", str(out)])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "|   Dataset    |                 Model                  | Top1  | Top5  |  mAP  | mINP  |   MACs   |  Params  |"
    assert lines[1] == "| :----------: | :------------------------------------: | :---: | :---: | :---: | :---: | :------: | :------: |"
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    # conv 3->8, 3x3, on 256x128: 8*3*9*256*128 MACs; params: conv 216+8, BN 8+8 (classifier left out)
    assert cells[0] == "synthetic" and cells[1] == "tiny_net"
    assert cells[6] == "7.078M" and cells[7] == "240"
    result = json.loads(out.read_text())
    assert f"{result['top1']:.3f}" == cells[2] and f"{result['top5']:.3f}" == cells[3]
    assert f"{result['mAP']:.3f}" == cells[4] and f"{result['mINP']:.3f}" == cells[5]
    assert result["weights"] == "random-init" and result["macs"] == 7077888 and result["params"] == 240

    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    assert result["num_query"] == len(ds.query) and result["num_gallery"] == len(ds.gallery)
    # the same random model, features computed by hand, scored by brute force
    torch.manual_seed(0)
    model = reid_core.create_model("tiny_net", num_classes=ds.num_train_pids, camera_num=ds.num_cameras).eval()

    def feats(records):
        with torch.no_grad():
            return model(torch.stack([eval_transforms((256, 128))(read_image(r.path)) for r in records])).numpy()

    def labels(records):
        return [r.pid for r in records], [r.camid for r in records]

    (qp, qc), (gp, gc) = labels(ds.query), labels(ds.gallery)
    m_ap, top1 = brute_force_map(feats(ds.query), feats(ds.gallery), qp, gp, qc, gc)
    assert result["mAP"] == pytest.approx(m_ap, abs=1e-4)
    assert result["top1"] == pytest.approx(top1, abs=1e-6)


def test_eval_with_a_weights_file(home: Path, tiny_family, tmp_path: Path, capsys) -> None:
    common = ["--dataset", "synthetic", "--dataset-arg", f"num_ids={NUM_IDS}", "--device", "cpu",
              "--num-workers", "0", "--no-progress"]
    assert main(["eval", "tiny_net", "--random-init", "--seed", "3", "--json", str(tmp_path / "a.json"), *common]) == 0
    torch.manual_seed(3)
    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    model = reid_core.create_model("tiny_net", num_classes=ds.num_train_pids)
    torch.save(model.state_dict(), tmp_path / "tiny.pth")
    assert main(["eval", "tiny_net", "--weights", str(tmp_path / "tiny.pth"), "--json", str(tmp_path / "b.json"), *common]) == 0
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert b["weights"] == str(tmp_path / "tiny.pth")
    assert b["mAP"] == pytest.approx(a["mAP"], abs=1e-6) and b["cmc"] == pytest.approx(a["cmc"], abs=1e-6)


def test_eval_without_weights_says_what_to_do(home: Path, tiny_family, capsys) -> None:
    code = main(["eval", "tiny_net", "--dataset", "synthetic", "--dataset-arg", f"num_ids={NUM_IDS}", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no catalogued weights" in err and "--random-init" in err and "--weights" in err


def test_eval_unknown_dataset(home: Path, tiny_family, capsys) -> None:
    assert main(["eval", "tiny_net", "--dataset", "imagenet", "--random-init"]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_extract_writes_an_npz(home: Path, tiny_family, tmp_path: Path, capsys) -> None:
    ds = synthetic(home / "datasets", num_ids=NUM_IDS)
    images = Path(ds.root) / "query"
    out = tmp_path / "feats.npz"
    code = main(["extract", "tiny_net", "--images", str(images), "--out", str(out), "--random-init",
                 "--device", "cpu", "--num-workers", "0", "--no-progress", "--camera-pattern", r"_c(\d)s"])
    assert code == 0
    z = np.load(out)
    n = len(list(images.glob("*.jpg")))
    assert z["feats"].shape == (n, 8) and len(z["paths"]) == n
    assert set(z["pids"].tolist()) == {-1}  # files directly in the folder: identity unknown
    assert set(z["camids"].tolist()) <= set(range(6)) and len(set(z["camids"].tolist())) > 1
    assert f"{n} images" in capsys.readouterr().out


def test_bench_extract(home: Path, tiny_family, capsys) -> None:
    code = main(["bench", "extract", "tiny_net", "--batch-size", "4", "--batches", "2", "--num-workers", "0",
                 "--num-ids", str(NUM_IDS)])
    assert code == 0
    out = capsys.readouterr().out
    assert "model only:" in out and "end to end:" in out and "images/s" in out
