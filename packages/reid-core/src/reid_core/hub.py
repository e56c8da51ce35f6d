"""The weights cache: download once, under a lock, to a temporary name, then verify every load.

Files live in ``$REID_HOME/checkpoints/<readable name>-<8 hex digits><suffix>``, e.g.
``market1501-resnet50_bot-0.86-frk3vj-1c2d3e4f.pth`` (``REID_HOME`` defaults to the user cache
dir, e.g. ``~/.cache/reid-zoo``). The readable part is the catalogued ``cache_name``, else the
URL's file name; the digits are a hash of the file's identity on its host (the URL; the Drive
id; the Hub repository, revision and path; the OneDrive link), so two URLs never share a file.

Whatever the host (see :mod:`reid_core.hosts`), a download goes into a temporary file beside
the target, must be complete and a loadable checkpoint, must match the catalogued sha256
where there is one, and is then renamed into place. Where the catalog gives no sha256, the
checksum of the first good download is recorded beside the file (``<file>.sha256``) and checked
on every later load. ``REID_MIRROR=<base url>`` fetches ``<base url>/<cache file name>`` instead
of the catalogued source: a mirror is a copy of a ``checkpoints`` folder.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from . import hosts
from .errors import CheckpointError, ChecksumError, WeightsError

if TYPE_CHECKING:
    from .catalog import WeightsInfo

ENV_HOME = "REID_HOME"
ENV_MIRROR = "REID_MIRROR"
#: Suffixes kept whole at the end of a cache file name.
_SUFFIXES = (".pth.tar", ".pth", ".pt", ".tar", ".safetensors", ".bin", ".ckpt", ".npz", ".pkl", ".zip")


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


def cache_file_name(url: str, file_name: str | None = None) -> str:
    """The name ``url`` is cached under: ``<readable name>-<8 hex of its identity><suffix>``.

    Args:
        url: the catalogued URL.
        file_name: a readable name (a record's ``cache_name``); defaults to the URL's file name,
            or ``<host>-<id>`` where the URL has none (Google Drive).
    """
    plan = hosts.plan_for(url)
    readable = file_name or plan.name or f"{plan.kind}-{plan.target.rsplit('/', 1)[-1]}"
    readable = re.sub(r"[^A-Za-z0-9._+-]+", "_", readable).strip("._") or plan.kind
    suffix = next((s for s in _SUFFIXES if readable.lower().endswith(s) and len(readable) > len(s)), "")
    stem = readable[: len(readable) - len(suffix)]
    digest = hashlib.sha256(plan.key.encode()).hexdigest()[:8]
    return f"{stem}-{digest}{suffix}"


def cache_path(url: str, file_name: str | None = None) -> Path:
    """Where :func:`fetch_file` keeps ``url`` (see :func:`cache_file_name`)."""
    return checkpoint_dir() / cache_file_name(url, file_name)


def resolve_url(url: str, file_name: str | None = None) -> str:
    """The URL the bytes come from: ``$REID_MIRROR/<cache file name>`` when a mirror is set, else ``url``."""
    mirror = os.environ.get(ENV_MIRROR)
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + cache_file_name(url, file_name)


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_checkpoint(path: Path) -> str:
    """The default check of a new download: :func:`reid_core.checkpoint.check_loadable`.

    Imported on use, so that importing this module does not import torch.
    """
    from .checkpoint import check_loadable

    return check_loadable(path)


def _umask() -> int:
    try:  # Linux reports it without changing it
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish(tmp: Path, path: Path) -> None:
    """Give a finished temporary file the mode a plain ``open`` would (mkstemp makes 0600), then rename."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        _publish(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _expected_sha(path: Path, catalogued: str | None) -> str | None:
    if catalogued:
        return catalogued.lower()
    record = _record_path(path)
    return record.read_text().strip().lower() if record.is_file() else None


def fetch_file(
    url: str,
    *,
    sha256: str | None = None,
    file_name: str | None = None,
    progress: bool = True,
    what: str | None = None,
    check: Callable[[Path], object] | None = check_checkpoint,
) -> Path:
    """Return the cached path of ``url``, downloading it first if needed.

    The download goes to a temporary file in the cache folder and is renamed into place, under
    a file lock, so concurrent processes download once and nobody sees a partial file. A file is
    kept only when it is complete and ``check`` accepts it (by default: a loadable checkpoint).
    The checksum (catalogued, or recorded at the first download) is verified on every call; a
    cached file that no longer matches is downloaded again, or refused when the source is
    unreachable. In a read-only cache, a file already there is used once verified.

    Args:
        url: the catalogued URL: HTTP(S), Google Drive, Hugging Face Hub or OneDrive (see
            :mod:`reid_core.hosts`). ``REID_MIRROR`` replaces the source for every host.
        sha256: expected checksum, if known.
        file_name: readable part of the cache name (a record's ``cache_name``); defaults to
            the URL's file name.
        progress: show a progress bar while downloading.
        what: a description for error messages, e.g. ``"resnet50_bot on market1501"``.
        check: called on a new file before it is trusted; raises if the file is unusable.
            ``None`` accepts any complete file (for files that are not checkpoints).
    """
    path = cache_path(url, file_name)
    label = f" ({what})" if what else ""
    lock = FileLock(str(path) + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(path.parent, os.W_OK):  # checked first: a lock file there may not open for writing
            raise PermissionError(errno.EACCES, "permission denied", str(path.parent))
        lock.acquire()
    except OSError as e:  # a read-only cache: usable for what it already holds
        return _use_read_only(url, path, sha256, label, check, e)
    try:
        if path.is_file():
            problem = _verify_cached(path, sha256, check)
            if problem is None:
                return path
            try:
                return _download(url, path, sha256, progress, label, check, file_name)
            except WeightsError as e:
                error = ChecksumError if "sha256" in problem else WeightsError
                raise error(
                    f"cached weights {path}{label} {problem}, and could not be downloaded again: {e}. "
                    f"Delete {path} and retry, or put a good copy there."
                ) from None
        return _download(url, path, sha256, progress, label, check, file_name)
    finally:
        lock.release()


def _verify_cached(path: Path, sha256: str | None, check: Callable[[Path], object] | None,
                   *, record: bool = True) -> str | None:
    """None when the cached file is good (recording its checksum if it is new), else what is wrong."""
    expected = _expected_sha(path, sha256)
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        return f"do not match their checksum (sha256 {actual}, expected {expected})"
    if expected is None and check is not None:  # put there by hand: prove it before recording it
        try:
            check(path)
        except CheckpointError as e:
            return f"are not a loadable checkpoint ({_reason(e, path)})"
    if expected is None and record:
        try:
            _write_atomic(_record_path(path), actual + "\n")
        except OSError:  # e.g. a cache whose folder is read-only but whose lock file is not: verify next time
            pass
    return None


def _use_read_only(url: str, path: Path, sha256: str | None, label: str,
                   check: Callable[[Path], object] | None, error: OSError) -> Path:
    folder = path.parent
    if path.is_file():
        problem = _verify_cached(path, sha256, check, record=False)
        if problem is None:
            return path
        raise WeightsError(
            f"cached weights {path}{label} {problem}, and the cache folder {folder} is not writable "
            f"({error.strerror or error}), so they cannot be fetched again from {url}. Ask whoever "
            f"maintains {folder} to replace the file, or set {ENV_HOME} to a writable folder."
        )
    raise WeightsError(
        f"cannot download weights{label} from {url}: the cache folder {folder} is not writable "
        f"({error.strerror or error}). Set {ENV_HOME} to a writable folder, or put the file at {path}."
    )


def _remove_leftovers(path: Path) -> None:
    """Delete what killed downloads of ``path`` left behind; only the lock holder writes these."""
    for stale in path.parent.glob(glob.escape(path.name) + ".*.partial"):
        stale.unlink(missing_ok=True)
    for stale in path.parent.glob(glob.escape(path.name) + ".hf-*"):
        shutil.rmtree(stale, ignore_errors=True)


def fetch_weights(record: WeightsInfo, *, progress: bool = True, what: str | None = None) -> Path:
    """:func:`fetch_file` for a catalogued record: its URL, sha256 and cache name."""
    return fetch_file(record.url, sha256=record.sha256, file_name=record.cache_name, progress=progress, what=what)


def _reason(e: Exception, path: Path) -> str:
    return str(e).replace(f"{path} ", "the file ").replace(str(path), "the file")


def _download(url: str, path: Path, sha256: str | None, progress: bool, label: str,
              check: Callable[[Path], object] | None, file_name: str | None) -> Path:
    source = resolve_url(url, file_name)
    plan = hosts.http_plan(source) if source != url else hosts.plan_for(url)
    _remove_leftovers(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".partial")
    os.close(fd)
    tmp = Path(tmp_name)
    via = f" (mirror of {url})" if source != url else (f" via {plan.where}" if plan.kind != "http" else "")
    try:
        plan.fetch(tmp, progress)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        actual = sha256_of(tmp)
        if sha256 and actual != sha256.lower():
            raise ChecksumError(f"download of {source}{label} has sha256 {actual}, expected {sha256}; nothing was kept")
        if not sha256 and check is not None:
            try:
                check(tmp)
            except CheckpointError as e:
                raise WeightsError(
                    f"download of {source}{via}{label} is not a whole checkpoint ({_reason(e, tmp)}); nothing was "
                    "kept. Retry later; if it persists, the file at the source has changed or is damaged."
                ) from None
        _publish(tmp, path)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise WeightsError(
            f"cannot download weights{label} from {source}{via}: {hosts.describe_error(e)}. To work offline, "
            f"put the file at {path} (or set {ENV_MIRROR} to a reachable copy, {ENV_HOME} to another cache)."
        ) from e
    finally:
        tmp.unlink(missing_ok=True)
    if not sha256:
        _write_atomic(_record_path(path), actual + "\n")
    return path
