"""MSMT17 (Wei et al., CVPR 2018), V1 and V2, read through its list files.

Layout: ``list_train.txt``, ``list_val.txt``, ``list_query.txt``, ``list_gallery.txt`` beside the
image folders ``train/`` and ``test/`` (V1) or ``mask_train_v2/`` and ``mask_test_v2/`` (V2, faces
blurred). Each list line is ``<relative path> <pid>``; the camera is the third ``_``-separated field
of the file name (``0000_000_01_0303morning_0015_0.jpg`` -> camera 1 -> camid 0).

The training split is ``list_train`` + ``list_val`` (the same 1,041 identities, 32,621 images),
the split every published MSMT17 result trains on; 11,659 queries and 82,161 gallery images.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DatasetError
from .base import Record, ReIDDataset, find_dir, finish, listing, locate

LIST_FILES = {"train": "list_train.txt", "val": "list_val.txt", "query": "list_query.txt", "gallery": "list_gallery.txt"}
#: image folders (train, test) of each version
VERSION_DIRS = {"V1": ("train", "test"), "V2": ("mask_train_v2", "mask_test_v2")}


def _is_msmt(folder: Path) -> bool:
    return (folder / LIST_FILES["query"]).is_file() or any(
        find_dir(folder, d) is not None for d, _ in VERSION_DIRS.values()
    )


def _read_list(list_file: Path, image_dir: Path) -> list[Record]:
    out = []
    with open(list_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split()
            where = f"{list_file}:{lineno}"
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise DatasetError(f"MSMT17: {where}: expected '<relative path> <pid>', got {line!r}")
            rel, pid = parts[0], int(parts[1])
            fields = Path(rel).name.split("_")
            if len(fields) < 3 or not fields[2].isdigit():
                raise DatasetError(
                    f"MSMT17: cannot read the camera from the file name {image_dir / rel} ({where}); "
                    "expected names like 0000_000_01_0303morning_0015_0.jpg"
                )
            cam = int(fields[2]) - 1
            if cam < 0:
                raise DatasetError(f"MSMT17: camera number in {image_dir / rel} ({where}) is below 1")
            out.append(Record(str(image_dir / rel), pid, cam))
    if not out:
        raise DatasetError(f"MSMT17: {list_file} lists no images")
    first = Path(out[0].path)
    if not first.is_file():
        raise DatasetError(
            f"MSMT17: {list_file} lists {first}, which does not exist; {image_dir} {listing(image_dir)}"
        )
    return out


def msmt17(root: str | os.PathLike, version: str | None = None) -> ReIDDataset:
    """Read MSMT17 from ``root`` (the dataset folder or a folder that contains it).

    Args:
        root: e.g. ``~/datasets`` holding ``MSMT17_V1/`` or ``MSMT17_V2/``.
        version: ``"V1"`` or ``"V2"``; by default whichever layout the folder has (V2 first).
    """
    names = {"V1": ("msmt17v1", "msmt17"), "V2": ("msmt17v2", "msmt17"), None: ("msmt17v2", "msmt17v1", "msmt17")}
    if version is not None:
        version = version.upper()
        if version not in VERSION_DIRS:
            raise DatasetError(f"MSMT17: unknown version {version!r}; expected V1 or V2")
    expected = (
        "list_train.txt, list_val.txt, list_query.txt, list_gallery.txt with train/ and test/ (V1) "
        "or mask_train_v2/ and mask_test_v2/ (V2)"
    )
    folder = locate(root, names=names[version], is_dataset=_is_msmt, expected=expected, what="MSMT17")
    versions = [version] if version else ["V2", "V1"]
    for v in versions:
        train_name, test_name = VERSION_DIRS[v]
        train_dir, test_dir = find_dir(folder, train_name), find_dir(folder, test_name)
        if train_dir is not None and test_dir is not None:
            break
    else:
        want = " or ".join(f"{VERSION_DIRS[v][0]}/ + {VERSION_DIRS[v][1]}/ ({v})" for v in versions)
        raise DatasetError(f"MSMT17: {folder} lacks the image folders {want}; {listing(folder)}")
    missing = [n for n in LIST_FILES.values() if not (folder / n).is_file()]
    if missing:
        raise DatasetError(f"MSMT17: {folder} lacks {', '.join(missing)} (expected {expected}); {listing(folder)}")
    train = _read_list(folder / LIST_FILES["train"], train_dir) + _read_list(folder / LIST_FILES["val"], train_dir)
    query = _read_list(folder / LIST_FILES["query"], test_dir)
    gallery = _read_list(folder / LIST_FILES["gallery"], test_dir)
    return finish("msmt17", folder, train, query, gallery, junk=(), distractors=())
