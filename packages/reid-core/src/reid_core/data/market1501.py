"""Market-1501 (Zheng et al., ICCV 2015): ``bounding_box_train/``, ``query/``, ``bounding_box_test/``.

File names are ``<pid>_c<cam>s<seq>_<frame>_<box>.jpg``, e.g. ``0002_c1s1_000451_03.jpg``; pids
``-1`` (junk) and ``0000`` (distractors) follow :mod:`reid_core.data.base`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .base import (
    ReIDDataset,
    find_dir,
    finish,
    locate,
    parse_market_style,
    require_dirs,
)

#: the three folders of the Market-1501 layout, by split
MARKET_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
_PATTERN = re.compile(r"^(-?\d+)_c(\d+)")


def has_market_layout(folder: Path) -> bool:
    """Whether ``folder`` holds any of the Market-1501 split folders (the reader then checks all three)."""
    return any(find_dir(folder, name) is not None for name in MARKET_FOLDERS.values())


def read_market_layout(folder: Path, name: str, what: str, pattern: re.Pattern[str] = _PATTERN) -> ReIDDataset:
    """Read a folder with the Market-1501 layout (shared by Market-1501, DukeMTMC-reID, CUHK03-NP, synthetic)."""
    dirs = require_dirs(folder, MARKET_FOLDERS.values(), what)
    splits = {
        split: parse_market_style(dirs[sub], pattern, split=split, what=what) for split, sub in MARKET_FOLDERS.items()
    }
    return finish(name, folder, splits["train"], splits["query"], splits["gallery"])


def market1501(root: str | os.PathLike) -> ReIDDataset:
    """Read Market-1501 from ``root`` (the dataset folder or a folder that contains it).

    751 training identities (12,936 images), 750 test identities: 3,368 queries and a gallery of
    15,913 images once the 3,819 junk images are dropped (2,793 distractors stay).
    """
    folder = locate(
        root,
        names=("market1501", "market"),
        is_dataset=has_market_layout,
        expected="bounding_box_train/, query/ and bounding_box_test/",
        what="Market-1501",
    )
    return read_market_layout(folder, "market1501", "Market-1501")
