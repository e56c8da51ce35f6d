"""Your own data: one sub-folder per identity, the camera read from the file name or a CSV.

Layout::

    root/
      train/<identity>/<image>     (optional: only needed for training)
      query/<identity>/<image>
      gallery/<identity>/<image>

Identity folders named by integers keep that number as pid (so ``-1`` is junk and ``0`` holds
distractors, as in Market-1501); other names are numbered from 1 in sorted order, the same name
getting the same pid in the query and the gallery. The camera comes from ``camera_pattern``
searched in the file name (its first group), or from ``camera_csv``, a CSV file with the columns
``path,camera`` (path relative to ``root``, or a bare file name). Camera labels are mapped to
zero-based camids in sorted order (numerically when they are all numbers).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from ..errors import DatasetError
from .base import Record, ReIDDataset, find_dir, finish, image_files, listing, warn_skipped

DEFAULT_CAMERA_PATTERN = r"c(\d+)"


def _camera_reader(root: Path, camera_pattern: str | None, camera_csv: str | os.PathLike | None):
    table: dict[str, str] = {}
    if camera_csv is not None:
        csv_path = Path(camera_csv).expanduser()
        if not csv_path.is_absolute() and not csv_path.is_file():
            csv_path = root / csv_path
        try:
            with open(csv_path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or not {"path", "camera"} <= set(reader.fieldnames):
                    raise DatasetError(
                        f"camera CSV {csv_path}: expected the columns path,camera; found {reader.fieldnames}"
                    )
                for row in reader:
                    table[row["path"].strip().replace("\\", "/")] = row["camera"].strip()
        except OSError as e:
            raise DatasetError(f"cannot read the camera CSV {csv_path}: {e.strerror or e}") from e
    regex = re.compile(camera_pattern) if camera_pattern else None

    def camera_of(path: Path) -> str:
        rel = path.relative_to(root).as_posix()
        if rel in table:
            return table[rel]
        if path.name in table:
            return table[path.name]
        if regex is not None:
            m = regex.search(path.name)
            if m is not None:
                return m.group(1) if m.groups() else m.group(0)
        how = " or ".join(
            w for w, on in ((f"camera_csv {camera_csv}", camera_csv is not None), (f"camera_pattern {camera_pattern!r}", regex is not None)) if on
        ) or "nothing (give camera_pattern or camera_csv)"
        raise DatasetError(f"cannot tell the camera of {path}: not found by {how}")

    return camera_of


def _camid_map(labels: set[str]) -> dict[str, int]:
    if all(label.lstrip("-").isdigit() for label in labels):
        ordered = sorted(labels, key=int)
    else:
        ordered = sorted(labels)
    return {label: i for i, label in enumerate(ordered)}


def _pid_map(names: set[str]) -> dict[str, int]:
    numeric = {n for n in names if n.lstrip("-").isdigit()}
    out = {n: int(n) for n in numeric}
    start = max([0, *out.values()]) + 1
    for i, n in enumerate(sorted(names - numeric)):
        out[n] = start + i
    return out


def image_folder(
    root: str | os.PathLike,
    *,
    camera_pattern: str | None = DEFAULT_CAMERA_PATTERN,
    camera_csv: str | os.PathLike | None = None,
    name: str = "folder",
) -> ReIDDataset:
    """Read a dataset of identity folders (see the module docs for the layout)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"folder dataset: {root} is not a folder ({listing(root)})")
    split_dirs = {s: find_dir(root, s) for s in ("train", "query", "gallery")}
    missing = [s + "/" for s in ("query", "gallery") if split_dirs[s] is None]
    if missing:
        raise DatasetError(
            f"folder dataset: {root} lacks {', '.join(missing)} (expected query/ and gallery/, and train/ "
            f"for training, each with one sub-folder per identity); {listing(root)}"
        )
    camera_of = _camera_reader(root, camera_pattern, camera_csv)
    raw: dict[str, list[tuple[Path, str, str]]] = {}
    for split, d in split_dirs.items():
        if d is None:
            raw[split] = []
            continue
        stray = image_files(d)
        if stray:
            raise DatasetError(
                f"folder dataset: {stray[0]} lies directly in {d}; expected one sub-folder per identity "
                f"({d}/<identity>/<image>)"
            )
        items = []
        unreadable = []
        for ident in sorted(p for p in d.iterdir() if p.is_dir()):
            try:
                files = image_files(ident, recursive=True)
            except DatasetError as e:  # an identity folder that cannot be listed: left out, and said
                unreadable.append(f"{ident} ({e})")
                continue
            items.extend((f, ident.name, camera_of(f)) for f in files)
        warn_skipped(d, unreadable)
        if not items:
            raise DatasetError(f"folder dataset: the {split} split {d} has no images in identity folders ({listing(d)})")
        raw[split] = items
    cams = _camid_map({c for items in raw.values() for _, _, c in items})
    test_pids = _pid_map({n for s in ("query", "gallery") for _, n, _ in raw[s]})
    train_pids = _pid_map({n for _, n, _ in raw["train"]})
    records = {
        split: [Record(str(f), (train_pids if split == "train" else test_pids)[n], cams[c]) for f, n, c in items]
        for split, items in raw.items()
    }
    required = ("train", "query", "gallery") if split_dirs["train"] is not None else ("query", "gallery")
    return finish(name, root, records["train"], records["query"], records["gallery"], required=required)


def image_records(folder: str | os.PathLike, *, camera_pattern: str | None = None) -> list[Record]:
    """Every image under ``folder`` (recursively), for feature extraction.

    The pid is the identity folder's number in sorted order when the images lie in sub-folders
    of ``folder``, else ``-1`` (unknown); the camid is read with ``camera_pattern`` when given,
    else ``0``.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder of images ({listing(folder)})")
    files = image_files(folder, recursive=True)
    if not files:
        raise DatasetError(f"{folder} has no images (.jpg, .jpeg, .png, .bmp); {listing(folder)}")
    idents = sorted({f.relative_to(folder).parts[0] for f in files if len(f.relative_to(folder).parts) > 1})
    pid_of = {n: i for i, n in enumerate(idents)}
    camera_of = _camera_reader(folder, camera_pattern, None) if camera_pattern else None
    labels = {f: camera_of(f) for f in files} if camera_of else {}
    cams = _camid_map(set(labels.values())) if labels else {}
    out = []
    for f in files:
        parts = f.relative_to(folder).parts
        pid = pid_of[parts[0]] if len(parts) > 1 else -1
        out.append(Record(str(f), pid, cams[labels[f]] if labels else 0))
    return out
