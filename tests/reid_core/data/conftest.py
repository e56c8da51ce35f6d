"""Builders of fake dataset trees made of tiny JPEG files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


def write_image(path: Path, colour: tuple[int, int, int] = (120, 60, 30), size: tuple[int, int] = (4, 8)) -> Path:
    """A tiny valid image, JPEG or PNG after its suffix (``size`` is PIL's (W, H))."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def write_tree(root: Path, files: dict[str, list[str]]) -> Path:
    """``{"query": ["0001_c1s1_000001_00.jpg", ...], ...}`` -> files under ``root``; returns ``root``."""
    for folder, names in files.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            if name.endswith((".jpg", ".png")):
                write_image(root / folder / name, colour=(10 * i % 256, 40, 200))
            else:
                (root / folder / name).write_text("not an image")
    return root


MARKET_FILES = {
    "bounding_box_train": [
        "0002_c1s1_000451_03.jpg",
        "0002_c2s1_000301_01.jpg",
        "0007_c3s3_000101_02.jpg",
        "0007_c6s1_000501_01.jpg",
        "Thumbs.db",
    ],
    "query": ["0001_c1s1_001051_00.jpg", "0003_c4s1_000201_00.jpg"],
    "bounding_box_test": [
        "0001_c2s1_000301_01.jpg",
        "0001_c1s1_001101_02.jpg",
        "0003_c5s2_000001_01.jpg",
        "0000_c3s1_000001_01.jpg",
        "-1_c1s1_000401_03.jpg",
    ],
}


@pytest.fixture
def market_tree(tmp_path: Path) -> Path:
    """A parent folder holding ``Market-1501-v15.09.15`` with the files above."""
    return write_tree(tmp_path / "Market-1501-v15.09.15", MARKET_FILES).parent
