"""Feature extraction and pairwise similarity."""

from __future__ import annotations

from pathlib import Path

import pytest
import reid_core
import torch
from reid_core.data import ImageDataset, eval_transforms, read_image, synthetic
from reid_core.errors import DatasetError
from reid_core.extract import Features, extract_features, similarity
from torch import nn
from torch.utils.data import DataLoader

from .data.small import NUM_IDS, small_synthetic_home


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    return synthetic(small_synthetic_home(tmp_path_factory) / "datasets", num_ids=NUM_IDS)


@pytest.fixture
def tiny(tiny_family):
    torch.manual_seed(0)
    return reid_core.create_model("tiny_net").eval()


def test_batch_size_does_not_change_features(tiny, small) -> None:
    records = small.query + small.gallery[:20]
    one = extract_features(tiny, records, batch_size=1, num_workers=0, progress=False)
    seven = extract_features(tiny, records, batch_size=7, num_workers=0, progress=False)
    assert one.feats.shape == (len(records), 8)
    assert torch.allclose(one.feats, seven.feats, atol=1e-5)
    assert one.paths == seven.paths == [r.path for r in records]
    assert one.pids.tolist() == [r.pid for r in records]
    assert one.camids.tolist() == [r.camid for r in records]


def test_batch_size_with_a_registered_osnet(small) -> None:
    if "osnet_x0_25_dpr" not in reid_core.list_models():
        pytest.skip("reid-torchreid is not installed")
    torch.manual_seed(0)
    model = reid_core.create_model("osnet_x0_25_dpr", num_classes=10).eval()
    records = small.query[:9]
    kw = {"num_workers": 0, "progress": False, "input_size": (64, 32)}
    one = extract_features(model, records, batch_size=1, **kw)
    seven = extract_features(model, records, batch_size=7, **kw)
    assert one.feats.shape == (9, 512)
    assert torch.allclose(one.feats, seven.feats, atol=1e-4, rtol=1e-4)


def test_features_are_the_models_output_on_resized_images(tiny, small) -> None:
    records = small.query[:3]
    feats = extract_features(tiny, records, batch_size=2, num_workers=0, progress=False, flip=True)
    images = torch.stack([eval_transforms((256, 128))(read_image(r.path)) for r in records])
    with torch.no_grad():
        expected = (tiny(images) + tiny(images.flip(-1))) / 2
    assert torch.allclose(feats.feats, expected, atol=1e-5)


def test_workers_give_the_same_features(tiny, small) -> None:
    records = small.query[:6]
    a = extract_features(tiny, records, batch_size=4, num_workers=0, progress=False)
    b = extract_features(tiny, records, batch_size=4, num_workers=2, progress=False)
    assert torch.equal(a.feats, b.feats)


def test_training_mode_is_restored(tiny_family, small) -> None:
    model = reid_core.create_model("tiny_net").train()
    extract_features(model, small.query[:2], num_workers=0, progress=False)
    assert model.training


def test_dataloader_and_dataset_inputs(tiny, small) -> None:
    records = small.query[:5]
    ds = ImageDataset(records, eval_transforms((256, 128)))
    from_records = extract_features(tiny, records, num_workers=0, progress=False)
    from_dataset = extract_features(tiny, ds, batch_size=2, num_workers=0, progress=False)
    from_loader = extract_features(tiny, DataLoader(ds, batch_size=3), progress=False)
    assert torch.allclose(from_records.feats, from_dataset.feats, atol=1e-5)
    assert torch.allclose(from_records.feats, from_loader.feats, atol=1e-5)
    assert from_loader.paths == [r.path for r in records]


class CameraNet(reid_core.ReIDModel):
    """Features that are the camera embedding plus the mean colour: shows which camids arrived."""

    def __init__(self, camera_num: int) -> None:
        super().__init__()
        self.sie = nn.Embedding(camera_num, 3)
        nn.init.normal_(self.sie.weight)

    def forward_features(self, x, camids):
        return x.mean((2, 3)) + (self.sie(camids) if camids is not None else 0)


def test_camera_aware_models_receive_camids(registry, small) -> None:
    fam = reid_core.Family("camtest", package="reid-camtest", module="tests.reid_core")

    @fam.register(feature_dim=3, camera_aware=True, input_size=(16, 8))
    def camera_net(num_classes: int = 1, camera_num: int = 6):
        return CameraNet(camera_num)

    registry.add_family(fam)
    model = reid_core.create_model("camera_net", camera_num=6).eval()
    records = small.gallery[:10]
    feats = extract_features(model, records, batch_size=4, num_workers=0, progress=False)
    images = torch.stack([eval_transforms((16, 8))(read_image(r.path)) for r in records])
    cams = torch.tensor([r.camid for r in records])
    with torch.no_grad():
        expected = model(images, camids=cams)
    assert len(set(cams.tolist())) > 1
    assert torch.allclose(feats.feats, expected, atol=1e-5)


def test_corrupt_jpeg_error_names_the_file(tiny, small, tmp_path: Path) -> None:
    bad = tmp_path / "0001_c1s1_000001_00.jpg"
    bad.write_bytes(Path(small.query[0].path).read_bytes()[:40])
    records = [small.query[1], (str(bad), 1, 0)]
    with pytest.raises(DatasetError, match=str(bad)):
        extract_features(tiny, records, batch_size=2, num_workers=0, progress=False)
    with pytest.raises(DatasetError, match=str(bad)):
        ImageDataset(records)[1]


def test_save_and_load(tiny, small, tmp_path: Path) -> None:
    feats = extract_features(tiny, small.query[:4], num_workers=0, progress=False)
    out = tmp_path / "feats.npz"
    feats.save(out)
    back = Features.load(out)
    assert torch.equal(back.feats, feats.feats) and torch.equal(back.pids, feats.pids)
    assert torch.equal(back.camids, feats.camids) and back.paths == feats.paths


def test_similarity(tiny, small) -> None:
    a, b = small.query[0].path, small.query[1].path
    assert similarity(tiny, a, a) == pytest.approx(1.0, abs=1e-5)
    s_ab = similarity(tiny, a, b)
    assert -1.0 <= s_ab < 0.9999
    # paths, uint8 tensors and float tensors in [0, 1] are the same image
    ta = read_image(a)
    assert similarity(tiny, ta, b) == pytest.approx(s_ab, abs=1e-5)
    assert similarity(tiny, ta.float() / 255, read_image(b).float() / 255) == pytest.approx(s_ab, abs=1e-3)
    from PIL import Image

    with Image.open(a) as pa, Image.open(b) as pb:
        assert similarity(tiny, pa, pb) == pytest.approx(s_ab, abs=1e-5)


def test_bad_arguments(tiny, small) -> None:
    with pytest.raises(ValueError, match="decode"):
        extract_features(tiny, small.query[:1], decode="gpu", progress=False)
    with pytest.raises(ValueError, match="CUDA"):
        extract_features(tiny, small.query[:1], decode="cuda", device="cpu", progress=False)
    with pytest.raises(DatasetError, match="no images"):
        extract_features(tiny, [], progress=False)
