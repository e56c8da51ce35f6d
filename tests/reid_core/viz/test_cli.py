"""The visualization commands, end to end, on the tiny test family (fast)."""

from PIL import Image

from reid_core.cli import main

from ..conftest import make_tiny_family


def common(root):
    return ["tiny_net", "--random-init", "--dataset", "synthetic", "--root", str(root),
            "--dataset-option", "num_ids=10", "--dpi", "30", "--device", "cpu"]


def test_rank_gradcam_tsne_commands(registry, tmp_path, capsys):
    registry.add_family(make_tiny_family())
    root = tmp_path / "data"
    assert main(["rank", *common(root), "--queries", "3", "--topk", "4", "--per-image", "2", "--out", str(tmp_path / "r")]) == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["ranklist_000.png", "ranklist_001.png"]
    assert Image.open(tmp_path / "r" / "ranklist_000.png").size == (round(1.5 * 5 * 30), round(3 * 2 * 30))
    assert "2 rank-list image(s) of tiny_net on synthetic" in capsys.readouterr().out

    # the tiny model declares no cam_layer: the command says so, and --layer fixes it
    capsys.readouterr()
    assert main(["gradcam", *common(root), "--queries", "1", "--topk", "2", "--out", str(tmp_path / "g")]) == 2
    assert "tiny_net declares no Grad-CAM layer" in capsys.readouterr().err
    assert main(["gradcam", *common(root), "--queries", "1", "--topk", "2", "--layer", "conv", "--out", str(tmp_path / "g")]) == 0
    assert Image.open(tmp_path / "g" / "gradcam_000.png").size == (round(1.5 * 3 * 30), round(9 * 30))

    assert main(["tsne", *common(root), "--ids", "3", "--size", "3", "--out", str(tmp_path / "t.png")]) == 0
    assert Image.open(tmp_path / "t.png").size == (90, 90)
