"""Image files the readers list and decode: nothing is skipped without a word, every format decodes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from reid_core.data import ImageDataset, SkippedImagesWarning, eval_transforms, image_folder, image_records, read_image
from reid_core.errors import DatasetError

from .conftest import write_image


def folder_tree(root: Path) -> Path:
    for split in ("query", "gallery"):
        for ident in ("1", "2"):
            write_image(root / split / ident / f"{ident}_c{1 if split == 'query' else 2}_0.jpg")
    return root


def test_dangling_links_are_counted_and_named(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "data")
    for i in range(7):
        (root / "gallery" / "2" / f"gone{i}_c3.jpg").symlink_to(tmp_path / f"nowhere{i}.jpg")
    with pytest.warns(SkippedImagesWarning, match=r"7 entries under .*gallery.*2 were skipped: .*gone0_c3.jpg "
                      r"\(link to .*nowhere0.jpg, which does not exist\).*and 2 more"):
        ds = image_folder(root)
    assert len(ds.gallery) == 2


def test_unreadable_sub_folders_are_counted_and_named(tmp_path: Path, monkeypatch) -> None:
    root = folder_tree(tmp_path / "data")
    write_image(root / "gallery" / "2" / "locked" / "2_c2_9.jpg")
    locked = str(root / "gallery" / "2" / "locked")
    real_scandir = os.scandir

    def scandir(path="."):  # the tests run as root, whom chmod 000 does not stop
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.warns(SkippedImagesWarning, match=r"1 entries under .* were skipped: .*locked \(folder not readable: "
                      "Permission denied\\)"):
        records = image_records(root / "gallery")
    assert len(records) == 2


def test_a_folder_that_cannot_be_listed_raises(tmp_path: Path, monkeypatch) -> None:
    root = folder_tree(tmp_path / "data")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(root / "gallery"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DatasetError, match="cannot list .*gallery: Permission denied"):
        image_records(root / "gallery")


def test_a_clean_tree_gives_no_warning(tmp_path: Path, recwarn) -> None:
    image_folder(folder_tree(tmp_path / "data"))
    assert not [w for w in recwarn if issubclass(w.category, SkippedImagesWarning)]


def test_16_bit_png_decodes_to_8_bits(tmp_path: Path) -> None:
    grey16 = (np.arange(32, dtype=np.uint16).reshape(8, 4) * 2000)
    Image.fromarray(grey16).save(tmp_path / "deep.png")
    image = read_image(tmp_path / "deep.png")
    assert image.dtype == torch.uint8 and image.shape == (3, 8, 4)
    want = np.round(grey16 / 65535 * 255).astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(image[c].numpy(), want)
    item = ImageDataset([(str(tmp_path / "deep.png"), 1, 0)], eval_transforms((16, 8)))[0]
    assert item["image"].shape == (3, 16, 8) and item["image"].dtype == torch.float32


def test_bmp_decodes(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (8, 4, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a_c1_0.bmp")
    image = read_image(tmp_path / "a_c1_0.bmp")
    assert image.dtype == torch.uint8
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), pixels)


def test_broken_bmp_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.bmp").write_bytes(b"BM" + b"\0" * 10)
    with pytest.raises(DatasetError, match="cannot decode image .*bad.bmp"):
        read_image(tmp_path / "bad.bmp")


def test_an_unreadable_identity_folder_is_left_out_and_named(tmp_path: Path, monkeypatch) -> None:
    root = folder_tree(tmp_path / "data")
    write_image(root / "gallery" / "3" / "3_c2_0.jpg")
    locked = str(root / "gallery" / "3")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.warns(SkippedImagesWarning, match=r"1 entries under .*gallery were skipped: .*gallery.3 \(cannot list"):
        ds = image_folder(root)
    assert {r.pid for r in ds.gallery} == {1, 2}
