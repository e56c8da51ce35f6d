"""Records, the three-split dataset they form, and the checks every reader shares.

Identity conventions (the same for every reader):

* pid ``-1`` in a file name marks junk (Market-1501's bad detections): dropped from every split,
  as torchreid and fast-reid do, so it never counts as a match nor as a mistake.
* pid ``0`` in a Market-style file name (Market-1501's ``0000`` images) marks distractors: kept in
  the gallery, where they match no query and can only be wrong answers, and dropped from the
  training and query splits, where they are not one person. MSMT17's lists have no such
  convention (its pid 0 is a person) and keep every pid.
* Training pids are relabelled ``0..N-1`` in sorted order of the original ids; query and gallery
  keep the original ids so that they still match each other.
* camids are zero-based.

The evaluation (:mod:`reid_core.evaluation`) needs no special case for any of this: a gallery
record counts as a match exactly when its pid equals the query's (and the camera differs).
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from ..errors import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
JUNK_PID = -1
DISTRACTOR_PID = 0
SPLITS = ("train", "query", "gallery")

_SHOW = 12  # folder entries listed in an error
_SHOW_SKIPPED = 5  # skipped entries named in a warning


class SkippedImagesWarning(UserWarning):
    """Images or folders of a dataset that could not be listed or read, and were left out."""


class Record(NamedTuple):
    """One image: where it is, who it shows (``pid``) and which camera took it (zero-based)."""

    path: str
    pid: int
    camid: int


@dataclasses.dataclass
class ReIDDataset:
    """A re-identification dataset: training, query and gallery records."""

    name: str  #: e.g. ``"market1501"``
    root: Path  #: the dataset folder that was read
    train: list[Record]  #: pids relabelled ``0..num_train_pids-1``
    query: list[Record]  #: original pids
    gallery: list[Record]  #: original pids, distractors (pid 0) included

    @property
    def num_train_pids(self) -> int:
        """Identities of the training split (the classifier size)."""
        return len({r.pid for r in self.train})

    @property
    def num_cameras(self) -> int:
        """Cameras over all splits (largest camid + 1)."""
        cams = [r.camid for split in (self.train, self.query, self.gallery) for r in split]
        return max(cams) + 1 if cams else 0

    def split(self, name: str) -> list[Record]:
        """The records of ``"train"``, ``"query"`` or ``"gallery"``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def summary(self) -> str:
        """A small table: identities, images and cameras per split."""
        lines = [f"{self.name} ({self.root})", "  split    | ids   | images | cameras"]
        for name in SPLITS:
            recs = self.split(name)
            ids = len({r.pid for r in recs})
            cams = len({r.camid for r in recs})
            lines.append(f"  {name:8s} | {ids:5d} | {len(recs):6d} | {cams:7d}")
        return "\n".join(lines)


# -- shared helpers ------------------------------------------------------------------------------


def listing(folder: Path, limit: int = _SHOW) -> str:
    """What a folder holds, for error messages: ``'a/, b/, c.txt'`` (or why it cannot be listed)."""
    try:
        names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(folder))
    except FileNotFoundError:
        return "it does not exist"
    except NotADirectoryError:
        return "it is a file, not a folder"
    except OSError as e:
        return f"it cannot be read ({e.strerror})"
    if not names:
        return "it is empty"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return "found: " + ", ".join(names[:limit]) + more


def locate(
    root: str | os.PathLike,
    *,
    names: Sequence[str],
    is_dataset: Callable[[Path], bool],
    expected: str,
    what: str,
    depth: int = 2,
) -> Path:
    """The dataset folder: ``root`` itself, or a sub-folder (up to ``depth`` levels) named like one of ``names``.

    Folder names are compared case-insensitively and without ``-``/``_``, so ``Market-1501-v15.09.15``,
    ``market1501`` and ``Market1501`` are all found when ``names`` has ``"market1501"``.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{what}: dataset root {root} is not a folder ({listing(root)})")
    wanted = [_simplify(n) for n in names]
    frontier = [root]
    for _ in range(depth + 1):
        nxt = []
        for folder in frontier:
            if is_dataset(folder):
                return folder
            try:
                subs = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            nxt.extend(p for p in subs if any(_simplify(p.name).startswith(w) for w in wanted))
        frontier = nxt
    raise DatasetError(
        f"{what} not found under {root}: expected {expected}, in {root} itself or in a sub-folder "
        f"named like {' or '.join(names)}; in {root}, {listing(root)}"
    )


def _simplify(name: str) -> str:
    return re.sub(r"[-_ .]", "", name.lower())


def find_dir(parent: Path, name: str) -> Path | None:
    """``parent/name``, matched case-insensitively (datasets are unpacked on all kinds of systems)."""
    exact = parent / name
    if exact.is_dir():
        return exact
    try:
        for p in parent.iterdir():
            if p.is_dir() and p.name.lower() == name.lower():
                return p
    except OSError:
        pass
    return None


def require_dirs(folder: Path, names: Iterable[str], what: str) -> dict[str, Path]:
    """The sub-folders ``names`` of ``folder``, or an error naming the missing ones and what is there."""
    found: dict[str, Path] = {}
    missing = []
    for name in names:
        d = find_dir(folder, name)
        if d is None:
            missing.append(name + "/")
        else:
            found[name] = d
    if missing:
        raise DatasetError(
            f"{what}: {folder} lacks {', '.join(missing)} (expected {', '.join(n + '/' for n in names)}); "
            f"{listing(folder)}"
        )
    return found


def image_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Image files of ``folder``, sorted by name (other files, e.g. ``Thumbs.db``, are skipped).

    What cannot be listed or read is not dropped silently: sub-folders that cannot be opened and
    image names that are links to nothing are counted in one :class:`SkippedImagesWarning` that
    names the first of them. A ``folder`` that cannot be opened at all raises.
    """
    files: list[Path] = []
    skipped: list[str] = []

    def unreadable(e: OSError) -> None:
        if Path(e.filename) == folder:
            raise DatasetError(f"cannot list {folder}: {e.strerror or e}") from e
        skipped.append(f"{e.filename} (folder not readable: {e.strerror or e})")

    if recursive:
        walk = os.walk(folder, onerror=unreadable)
    else:
        try:
            names = [e.name for e in os.scandir(folder)]
        except OSError as e:
            raise DatasetError(f"cannot list {folder}: {e.strerror or e}") from e
        walk = iter([(str(folder), [], names)])
    for parent, _, names in walk:
        for name in names:
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            p = Path(parent, name)
            if p.is_file():
                files.append(p)
            elif p.is_symlink() and not p.exists():
                skipped.append(f"{p} (link to {os.readlink(p)}, which does not exist)")
    warn_skipped(folder, skipped, stacklevel=3)
    return sorted(files)


def warn_skipped(folder: Path, entries: Sequence[str], *, stacklevel: int = 2) -> None:
    """One :class:`SkippedImagesWarning` for the ``entries`` (descriptions) skipped under ``folder``."""
    if not entries:
        return
    shown = "; ".join(entries[:_SHOW_SKIPPED])
    more = f"; and {len(entries) - _SHOW_SKIPPED} more" if len(entries) > _SHOW_SKIPPED else ""
    warnings.warn(f"{len(entries)} entries under {folder} were skipped: {shown}{more}", SkippedImagesWarning,
                  stacklevel=stacklevel + 1)


def parse_market_style(
    folder: Path, pattern: re.Pattern[str], *, split: str, what: str, cam_base: int = 1
) -> list[Record]:
    """Records of a folder of ``<pid>_c<cam>...`` images (Market-1501, DukeMTMC-reID, CUHK03-NP).

    ``pattern`` must have two groups: the pid and the camera number, which counts from ``cam_base``.
    """
    files = image_files(folder)
    if not files:
        raise DatasetError(f"{what}: the {split} split {folder} has no images ({listing(folder)})")
    out = []
    for f in files:
        m = pattern.match(f.name)
        if m is None:
            raise DatasetError(
                f"{what}: cannot read pid and camera from the file name {f} "
                f"(expected names matching {pattern.pattern!r}, e.g. 0002_c1s1_000451_03.jpg)"
            )
        pid, cam = int(m.group(1)), int(m.group(2)) - cam_base
        if cam < 0:
            raise DatasetError(f"{what}: camera number in {f} is below {cam_base}, the first camera")
        out.append(Record(str(f), pid, cam))
    return out


def apply_pid_policy(
    records: Iterable[Record], split: str, *, junk: Sequence[int] = (JUNK_PID,), distractors: Sequence[int] = (DISTRACTOR_PID,)
) -> list[Record]:
    """Drop junk pids everywhere and distractor pids outside the gallery (see the module docs)."""
    return [r for r in records if r.pid not in junk and (split == "gallery" or r.pid not in distractors)]


def relabel(records: Sequence[Record]) -> list[Record]:
    """Training records with pids mapped to ``0..N-1`` in sorted order of the original ids."""
    mapping = {pid: i for i, pid in enumerate(sorted({r.pid for r in records}))}
    return [Record(r.path, mapping[r.pid], r.camid) for r in records]


def finish(
    name: str,
    root: Path,
    train: list[Record],
    query: list[Record],
    gallery: list[Record],
    *,
    junk: Sequence[int] = (JUNK_PID,),
    distractors: Sequence[int] = (DISTRACTOR_PID,),
    required: Sequence[str] = SPLITS,
) -> ReIDDataset:
    """Apply the pid conventions, relabel the training split and check that no required split is empty."""
    splits = {
        split: apply_pid_policy(recs, split, junk=junk, distractors=distractors)
        for split, recs in (("train", train), ("query", query), ("gallery", gallery))
    }
    splits["train"] = relabel(splits["train"])
    for split, recs in splits.items():
        if not recs and split in required:
            raise DatasetError(
                f"{name}: the {split} split under {root} has no usable images "
                "(every image was junk, pid -1, or a distractor, pid 0)"
            )
    return ReIDDataset(name, root, splits["train"], splits["query"], splits["gallery"])
