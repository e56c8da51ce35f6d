"""Datasets, transforms and samplers: from image folders to batches.

```python
from reid_core.data import build_dataset
ds = build_dataset("market1501", root="~/datasets")   # or "synthetic": no download
ds.query[0]          # Record(path='.../0001_c1s1_001051_00.jpg', pid=1, camid=0)
```

Every reader returns :class:`Record` ``(path, pid, camid)`` with zero-based camids and training
pids relabelled ``0..N-1``; junk (pid -1) is dropped and distractors (pid 0) stay in the gallery
only (see :mod:`reid_core.data.base`). ``root`` may be the dataset folder or a folder that
contains it; a folder with the wrong layout raises :class:`reid_core.DatasetError` saying what
was expected and what was found.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .base import Record, ReIDDataset, SkippedImagesWarning
from .cuhk03 import cuhk03np
from .dukemtmcreid import dukemtmcreid
from .folder import image_folder, image_records
from .image_dataset import ImageDataset, read_image
from .market1501 import market1501
from .msmt17 import msmt17
from .sampler import PKSampler
from .synthetic import synthetic
from .transforms import build_transforms, eval_transforms, train_transforms


def _cuhk03_labeled(root: str | os.PathLike, **kw: Any) -> ReIDDataset:
    return cuhk03np(root, variant="labeled", **kw)


#: dataset name -> reader ``(root, **kwargs) -> ReIDDataset``
DATASETS: dict[str, Callable[..., ReIDDataset]] = {
    "market1501": market1501,
    "dukemtmcreid": dukemtmcreid,
    "msmt17": msmt17,
    "cuhk03np": cuhk03np,
    "cuhk03np_detected": cuhk03np,
    "cuhk03np_labeled": _cuhk03_labeled,
    "folder": image_folder,
    "synthetic": synthetic,
}

_ALIASES = {"market": "market1501", "duke": "dukemtmcreid", "dukemtmc": "dukemtmcreid", "msmt": "msmt17", "cuhk03": "cuhk03np"}


def dataset_name(name: str) -> str:
    """The canonical name of a dataset (``"Market-1501"`` -> ``"market1501"``), or an error listing them."""
    key = name.lower().replace("-", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key not in DATASETS and key.replace("_", "") in {k.replace("_", "") for k in DATASETS}:
        key = next(k for k in DATASETS if k.replace("_", "") == key.replace("_", ""))
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return key


def default_root() -> Path:
    """Where datasets are looked for when no root is given: ``$REID_HOME/datasets``."""
    from ..hub import reid_home

    return reid_home() / "datasets"


def build_dataset(name: str, root: str | os.PathLike | None = None, **kwargs: Any) -> ReIDDataset:
    """Read dataset ``name`` from ``root`` (default ``$REID_HOME/datasets``).

    Args:
        name: one of :data:`DATASETS` (``market1501``, ``dukemtmcreid``, ``msmt17``,
            ``cuhk03np_detected``, ``cuhk03np_labeled``, ``folder``, ``synthetic``).
        root: the dataset folder or its parent; for ``synthetic``, where to cache it.
        **kwargs: reader options, e.g. ``version="V1"`` for MSMT17, ``camera_pattern=`` for
            ``folder``, ``seed=`` / ``num_ids=`` for ``synthetic``.
    """
    key = dataset_name(name)
    if key == "synthetic":
        return synthetic(root, **kwargs)
    return DATASETS[key](root if root is not None else default_root(), **kwargs)


__all__ = [
    "DATASETS",
    "ImageDataset",
    "PKSampler",
    "ReIDDataset",
    "Record",
    "SkippedImagesWarning",
    "build_dataset",
    "build_transforms",
    "cuhk03np",
    "dataset_name",
    "default_root",
    "dukemtmcreid",
    "eval_transforms",
    "image_folder",
    "image_records",
    "market1501",
    "msmt17",
    "read_image",
    "synthetic",
    "train_transforms",
]
