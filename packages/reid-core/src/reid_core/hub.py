"""The weights cache: download once, under a lock, to a temporary name, then verify every load.

Files live in ``$REID_HOME/checkpoints/<catalogued file name>`` (``REID_HOME`` defaults to the
user cache dir, e.g. ``~/.cache/reid-zoo``). Where the catalog gives no sha256, the checksum of
the first download is recorded beside the file (``<file>.sha256``) and checked on every later
load. ``REID_MIRROR=<base url>`` fetches ``<base url>/<file name>`` instead of the catalogued URL.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock
from tqdm import tqdm

from .errors import ChecksumError, WeightsError

ENV_HOME = "REID_HOME"
ENV_MIRROR = "REID_MIRROR"


def reid_home() -> Path:
    """The cache root: ``$REID_HOME``, or the user cache dir's ``reid-zoo`` folder."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("reid-zoo", appauthor=False))


def checkpoint_dir() -> Path:
    """Where downloaded weights are kept."""
    return reid_home() / "checkpoints"


def resolve_url(url: str, file_name: str | None = None) -> str:
    """The URL to fetch: the catalogued one, or ``$REID_MIRROR/<file name>`` when a mirror is set.

    ``file_name`` is the name in the cache where it differs from the URL's last component
    (Google Drive links): the mirror serves the file under the name it is kept under.
    """
    mirror = os.environ.get(ENV_MIRROR)
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + (file_name or url.rstrip("/").rsplit("/", 1)[-1])


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _expected_sha(path: Path, catalogued: str | None) -> str | None:
    if catalogued:
        return catalogued.lower()
    record = path.with_name(path.name + ".sha256")
    return record.read_text().strip().lower() if record.is_file() else None


def fetch_file(
    url: str,
    *,
    sha256: str | None = None,
    file_name: str | None = None,
    progress: bool = True,
    what: str | None = None,
) -> Path:
    """Return the cached path of ``url``, downloading it first if needed.

    The download goes to a temporary file in the cache folder and is renamed into place, under
    a file lock, so concurrent processes download once and nobody sees a partial file. The
    checksum (catalogued, or recorded at the first download) is verified on every call; a cached
    file that no longer matches is downloaded again, or refused when the source is unreachable.

    Args:
        url: the catalogued URL (``REID_MIRROR`` may replace its host).
        sha256: expected checksum, if known.
        file_name: name in the cache; defaults to the URL's last component.
        progress: show a progress bar while downloading.
        what: a description for error messages, e.g. ``"resnet50_bot on market1501"``.
    """
    name = file_name or url.rstrip("/").rsplit("/", 1)[-1]
    folder = checkpoint_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    label = f" ({what})" if what else ""
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            expected = _expected_sha(path, sha256)
            actual = sha256_of(path)
            if expected is None or actual == expected:
                if expected is None:
                    _write_atomic(path.with_name(name + ".sha256"), actual + "\n")
                return path
            try:
                return _download(url, path, sha256, progress, label)
            except WeightsError as e:
                raise ChecksumError(
                    f"cached weights {path}{label} do not match their checksum (sha256 {actual}, "
                    f"expected {expected}) and could not be downloaded again: {e}. Delete the file "
                    "or put a good copy there."
                ) from None
        return _download(url, path, sha256, progress, label)


def _download(url: str, path: Path, sha256: str | None, progress: bool, label: str) -> Path:
    source = resolve_url(url, path.name)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(source, out, progress)
            out.flush()
            os.fsync(out.fileno())
        actual = sha256_of(tmp)
        if sha256 and actual != sha256.lower():
            raise ChecksumError(f"download of {source}{label} has sha256 {actual}, expected {sha256}; nothing was kept")
        os.replace(tmp, path)
    except (urllib.error.URLError, OSError, ValueError) as e:
        mirror = f" (mirror of {url})" if source != url else ""
        raise WeightsError(
            f"cannot download weights{label} from {source}{mirror}: {e}. To work offline, put the "
            f"file at {path} (or set {ENV_MIRROR} to a reachable copy, {ENV_HOME} to another cache)."
        ) from e
    finally:
        tmp.unlink(missing_ok=True)
    if not sha256:
        _write_atomic(path.with_name(path.name + ".sha256"), actual + "\n")
    return path


def _stream(url: str, out, progress: bool, timeout: float = 60.0) -> None:
    """Copy ``url`` into ``out``; a body shorter than its Content-Length is an error, not a file.

    Written here rather than with torch.hub's helper because that one accepts a connection that
    closes early as a complete file.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "reid-zoo"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        total = int(total) if total is not None else None
        done = 0
        with tqdm(total=total, disable=not progress, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=url.rsplit("/", 1)[-1]) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                bar.update(len(chunk))
    if total is not None and done != total:
        raise OSError(f"incomplete download: received {done} of {total} bytes")
