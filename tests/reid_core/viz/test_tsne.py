import numpy as np
import pytest
from PIL import Image

from reid_core.viz import render_tsne, tsne_embedding


def test_tsne_dots_and_thumbnails(osnet, synthetic10, tmp_path):
    dots = render_tsne(osnet, synthetic10, tmp_path / "dots.png", ids=4, size=4, dpi=50)
    thumbs = render_tsne(osnet, synthetic10, tmp_path / "thumbs.png", ids=4, size=4, dpi=50, thumbnails=True)
    for p in (dots, thumbs):
        assert p.exists() and Image.open(p).size == (200, 200)
    a, b = (np.asarray(Image.open(p).convert("RGB")) for p in (dots, thumbs))
    assert not np.array_equal(a, b)
    other = render_tsne(osnet, synthetic10, tmp_path / "other.png", ids=3, size=4, dpi=50)
    assert not np.array_equal(a, np.asarray(Image.open(other).convert("RGB")))


def test_embedding_separates_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 10
    feats = np.concatenate([c + rng.normal(0, 0.1, (10, 8)) for c in centres])
    pts = tsne_embedding(feats, perplexity=5)
    assert pts.shape == (30, 2)
    mean = [pts[i * 10 : (i + 1) * 10].mean(0) for i in range(3)]
    spread = max(np.linalg.norm(pts[i * 10 : (i + 1) * 10] - mean[i], axis=1).max() for i in range(3))
    gaps = min(np.linalg.norm(mean[i] - mean[j]) for i in range(3) for j in range(i + 1, 3))
    assert gaps > 2 * spread


def test_too_few_points():
    with pytest.raises(ValueError, match="at least 3"):
        tsne_embedding(np.ones((2, 4)))
