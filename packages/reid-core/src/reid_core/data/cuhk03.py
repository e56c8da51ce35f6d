"""CUHK03-NP (Zhong et al., CVPR 2017's new protocol for CUHK03): ``detected/`` and ``labeled/``.

Each variant has the Market-1501 layout with names like ``0001_c1_1.png``: 767 training
identities and 700 test identities, 1,400 queries.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import DatasetError
from .base import ReIDDataset, find_dir, listing, locate
from .market1501 import has_market_layout, read_market_layout

VARIANTS = ("detected", "labeled")
_PATTERN = re.compile(r"^(-?\d+)_c(\d+)")


def cuhk03np(root: str | os.PathLike, variant: str = "detected") -> ReIDDataset:
    """Read the ``detected`` (default) or ``labeled`` boxes of CUHK03-NP.

    ``root`` may be the ``cuhk03-np`` folder, a folder that contains it, or the variant folder itself.
    """
    if variant not in VARIANTS:
        raise DatasetError(f"CUHK03-NP: unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")

    def is_dataset(folder: Path) -> bool:
        if folder.name.lower() == variant and has_market_layout(folder):
            return True
        return any(find_dir(folder, v) is not None for v in VARIANTS)

    folder = locate(
        root,
        names=("cuhk03np", "cuhk03"),
        is_dataset=is_dataset,
        expected="detected/ and labeled/, each with bounding_box_train/, query/ and bounding_box_test/",
        what="CUHK03-NP",
    )
    if folder.name.lower() != variant or not has_market_layout(folder):
        sub = find_dir(folder, variant)
        if sub is None:
            raise DatasetError(f"CUHK03-NP: {folder} lacks the {variant}/ folder; {listing(folder)}")
        folder = sub
    return read_market_layout(folder, f"cuhk03np_{variant}", f"CUHK03-NP ({variant})", _PATTERN)
