"""DukeMTMC-reID (Zheng et al., ICCV 2017): the Market-1501 layout, names like ``0001_c2_f0046182.jpg``."""

from __future__ import annotations

import os
import re

from .base import ReIDDataset, locate
from .market1501 import has_market_layout, read_market_layout

_PATTERN = re.compile(r"^(-?\d+)_c(\d+)_")


def dukemtmcreid(root: str | os.PathLike) -> ReIDDataset:
    """Read DukeMTMC-reID from ``root`` (the dataset folder or a folder that contains it).

    702 training identities (16,522 images); 2,228 queries and 17,661 gallery images (8 cameras).
    """
    folder = locate(
        root,
        names=("dukemtmcreid", "dukemtmc", "duke"),
        is_dataset=has_market_layout,
        expected="bounding_box_train/, query/ and bounding_box_test/",
        what="DukeMTMC-reID",
    )
    return read_market_layout(folder, "dukemtmcreid", "DukeMTMC-reID", _PATTERN)
