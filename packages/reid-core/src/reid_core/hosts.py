"""Where a weights URL points, and how its bytes are brought into the cache's temporary file.

A catalogued URL is what the upstream README links to: a plain HTTP(S) file, a Google Drive
share link, a file on the Hugging Face Hub, or a OneDrive share link. :func:`plan_for` turns it
into a :class:`HostPlan`: a stable identity (which keys the cache), a readable name, and a
transport. The transports only move bytes; the cache (:mod:`reid_core.hub`) does everything
else the same way for every host: lock, temporary file, completeness and loadability check,
checksum, atomic rename, mirror and offline errors.

Recognised URLs:

- ``http(s)://...``: fetched as is; ``Content-Encoding: gzip``/``deflate`` is decoded and a
  body shorter than its ``Content-Length`` is an error.
- ``https://drive.google.com/file/d/<id>/view?...``, ``.../open?id=<id>``, ``.../uc?id=<id>``:
  fetched with `gdown <https://github.com/wkentaro/gdown>`_, which answers Drive's "cannot scan
  this large file for viruses" confirmation page.
- ``https://huggingface.co/<repo>/resolve/<revision>/<path>`` (also ``/blob/``, and
  ``/datasets/...``), or ``hf://<repo>[@<revision>]/<path>``: fetched with
  ``huggingface_hub.hf_hub_download`` from ``$HF_ENDPOINT`` (default ``https://huggingface.co``),
  with the user's Hub token if logged in.
- ``https://1drv.ms/...`` and ``https://onedrive.live.com/...`` share links: fetched from the
  OneDrive shares API (``/shares/u!<base64url of the link>/root/content``). A link to a shared
  *folder* names the file inside it after a ``#``: ``https://1drv.ms/u/s!AbC?e=x#lmbn_n_market.pth``.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from .errors import WeightsError

#: The OneDrive API that resolves share links to their content (tests point it at 127.0.0.1).
ONEDRIVE_API = "https://api.onedrive.com/v1.0"
#: Where Hugging Face Hub files come from unless ``$HF_ENDPOINT`` says otherwise.
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
_DRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")
_ONEDRIVE_HOSTS = ("1drv.ms", "onedrive.live.com")
_HF_HOSTS = ("huggingface.co", "hf.co")
_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class HostPlan:
    """How one catalogued URL is fetched."""

    kind: str  #: ``"http"``, ``"gdrive"``, ``"hf"`` or ``"onedrive"``
    url: str  #: the URL as catalogued
    key: str  #: the identity of the file: two URLs with the same key are the same file
    name: str  #: a readable file name from the URL ("" where the URL has none, e.g. Drive)
    target: str  #: what the transport fetches: a URL, a Drive id, ``repo_type:repo@rev/path``
    fetch: Callable[[Path, bool], None] = dataclasses.field(repr=False, compare=False)
    #: ``fetch(dest, progress)`` writes the file's bytes to ``dest`` (an existing empty file)

    @property
    def where(self) -> str:
        """The host in words, for messages."""
        return {"http": "HTTP", "gdrive": "Google Drive", "hf": "the Hugging Face Hub", "onedrive": "OneDrive"}[
            self.kind
        ]


def plan_for(url: str) -> HostPlan:
    """The :class:`HostPlan` of a catalogued URL; :class:`~reid_core.errors.WeightsError` if unsupported."""
    if url.startswith("hf://"):
        return _hf_plan(url, url[len("hf://"):], "model")
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https", "file") or (parts.scheme != "file" and not host):
        raise WeightsError(f"unsupported weights URL {url!r}: expected http(s)://, file://, or hf://")
    if host in _DRIVE_HOSTS:
        return _gdrive_plan(url, parts)
    if host in _HF_HOSTS:
        return _hf_url_plan(url, parts)
    if host in _ONEDRIVE_HOSTS:
        return _onedrive_plan(url, parts)
    return http_plan(url)


# ---- plain HTTP -------------------------------------------------------------------------------

def http_plan(url: str) -> HostPlan:
    """A plan that fetches ``url`` as it is (also used for mirrors and OneDrive's resolved links)."""
    parts = urllib.parse.urlsplit(url)
    name = urllib.parse.unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    key = urllib.parse.urlunsplit(parts._replace(fragment=""))
    return HostPlan("http", url, key, name, key, lambda dest, progress: http_get(key, dest, progress))


def http_get(url: str, dest: Path, progress: bool, timeout: float = _TIMEOUT) -> None:
    """Stream ``url`` into ``dest``, decoding gzip/deflate; a body cut short is an error.

    Written here rather than with torch.hub's helper because that one accepts a connection that
    closes early as a complete file and stores compressed bodies as they come.
    """
    # we ask for the bytes as they are; servers that compress anyway are decoded below
    request = urllib.request.Request(url, headers={"User-Agent": "reid-zoo", "Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", "deflate", ""):
            raise OSError(f"the server sent the file with Content-Encoding {encoding!r}, which reid-zoo cannot decode")
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.strip().isdigit() else None
        decoder = None
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj()
        received = 0
        with tqdm(total=total, disable=not progress, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=url.rsplit("/", 1)[-1][:40]) as bar:
            while True:
                try:
                    chunk = response.read(1 << 16)
                except http.client.IncompleteRead as e:  # the connection closed before Content-Length
                    raise OSError(f"incomplete download: received {received + len(e.partial)} of {total} bytes") from None
                if not chunk:
                    break
                received += len(chunk)
                bar.update(len(chunk))
                out.write(decoder.decompress(chunk) if decoder else chunk)
        if total is not None and received != total:
            raise OSError(f"incomplete download: received {received} of {total} bytes")
        if decoder is not None:
            out.write(decoder.flush())
            if not decoder.eof:
                raise OSError(f"incomplete download: the {encoding} stream from {url} ends early")


# ---- Google Drive -----------------------------------------------------------------------------

_DRIVE_ID = re.compile(r"^[-\w]{10,}$")


def _gdrive_plan(url: str, parts: urllib.parse.SplitResult) -> HostPlan:
    query = urllib.parse.parse_qs(parts.query)
    match = re.match(r"^/file(?:/u/\d+)?/d/([-\w]+)", parts.path)
    file_id = match.group(1) if match else (query.get("id") or [None])[0]
    if "/folders/" in parts.path:
        raise WeightsError(f"{url} is a Google Drive folder; catalogue the link of the file itself (…/file/d/<id>/view)")
    if not file_id or not _DRIVE_ID.match(file_id):
        raise WeightsError(f"cannot find the file id in the Google Drive link {url!r} (expected …/file/d/<id>/view)")

    def fetch(dest: Path, progress: bool) -> None:
        gdrive_get(file_id, dest, progress)

    return HostPlan("gdrive", url, f"gdrive:{file_id}", "", file_id, fetch)


def gdrive_get(file_id: str, dest: Path, progress: bool, timeout: float = _TIMEOUT) -> None:
    """Download a Drive file into ``dest`` with gdown (which answers the large-file confirmation page)."""
    try:
        import gdown
    except ImportError:
        raise WeightsError(
            'weights on Google Drive need gdown: pip install "reid-core[hosts]" (or pip install gdown)'
        ) from None
    with tqdm(total=None, disable=not progress, unit="B", unit_scale=True, unit_divisor=1024,
              desc=f"drive:{file_id[:12]}") as bar, open(dest, "wb") as out:
        def report(done: int, total: int | None) -> None:
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            gdown.download(id=file_id, output=out, quiet=True, use_cookies=False,
                           **_supported(gdown.download, progress=report, timeout=timeout))
        except Exception as e:  # gdown raises its own, requests' and ValueError alike
            raise OSError(" ".join(f"{type(e).__name__}: {e}".split())) from e


# ---- Hugging Face Hub -------------------------------------------------------------------------

def _hf_url_plan(url: str, parts: urllib.parse.SplitResult) -> HostPlan:
    path = urllib.parse.unquote(parts.path).lstrip("/")
    repo_type = "model"
    for prefix, kind in (("datasets/", "dataset"), ("spaces/", "space")):
        if path.startswith(prefix):
            path, repo_type = path[len(prefix):], kind
    match = re.match(r"^([^/]+/[^/]+|[^/]+)/(?:resolve|blob)/([^/]+)/(.+)$", path)
    if not match:
        raise WeightsError(
            f"cannot read a repository and file from the Hugging Face link {url!r} "
            "(expected https://huggingface.co/<owner>/<repo>/resolve/<revision>/<file>)"
        )
    repo, revision, filename = match.groups()
    return _hf_plan(url, f"{repo}@{revision}/{filename}", repo_type)


def _hf_plan(url: str, spec: str, repo_type: str) -> HostPlan:
    match = re.match(r"^([^/@]+/[^/@]+|[^/@]+)(?:@([^/]+))?/(.+)$", spec)
    if not match or match.group(3).endswith("/"):
        raise WeightsError(f"cannot read a repository and file from {url!r} (expected hf://<owner>/<repo>[@<revision>]/<file>)")
    repo, revision, filename = match.group(1), match.group(2) or "main", match.group(3)
    target = f"{repo_type}:{repo}@{revision}/{filename}"

    def fetch(dest: Path, progress: bool) -> None:
        hf_get(repo, filename, revision, repo_type, dest, progress)

    return HostPlan("hf", url, f"hf:{target}", filename.rsplit("/", 1)[-1], target, fetch)


def hf_endpoint() -> str:
    """The Hub to fetch from: ``$HF_ENDPOINT`` (a Hub mirror), else https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")


def hf_get(repo: str, filename: str, revision: str, repo_type: str, dest: Path, progress: bool) -> None:
    """Download one Hub file into ``dest`` with ``hf_hub_download``, through a scratch folder beside it."""
    try:
        import huggingface_hub
    except ImportError:
        raise WeightsError(
            'weights on the Hugging Face Hub need huggingface_hub: pip install "reid-core[hosts]"'
        ) from None
    scratch = Path(tempfile.mkdtemp(dir=dest.parent, prefix=dest.name + ".hf-"))
    try:
        try:
            got = huggingface_hub.hf_hub_download(
                repo, filename, revision=revision, repo_type=repo_type, local_dir=scratch, endpoint=hf_endpoint(),
                **_supported(huggingface_hub.hf_hub_download, tqdm_class=None if progress else _SilentTqdm),
            )
        except Exception as e:  # Hub errors, httpx errors, offline mode: all mean "not fetched"
            raise OSError(" ".join(f"{type(e).__name__}: {e}".split())) from e
        os.replace(got, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _supported(fn: Callable, **options: object) -> dict[str, object]:
    """The options ``fn`` takes: progress and timeout hooks came in later releases of gdown and huggingface_hub."""
    import inspect

    accepted = inspect.signature(fn).parameters
    return {k: v for k, v in options.items() if k in accepted}


class _SilentTqdm(tqdm):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


# ---- OneDrive ---------------------------------------------------------------------------------

def _onedrive_plan(url: str, parts: urllib.parse.SplitResult) -> HostPlan:
    if parts.hostname == "onedrive.live.com" and not (set(urllib.parse.parse_qs(parts.query)) & {"resid", "id", "cid"}):
        raise WeightsError(f"{url} is not a OneDrive share link (expected https://1drv.ms/... or ...?resid=...)")
    share = urllib.parse.urlunsplit(parts._replace(fragment=""))
    inside = urllib.parse.unquote(parts.fragment).strip("/")
    key = f"onedrive:{share}" + (f"#{inside}" if inside else "")

    def fetch(dest: Path, progress: bool) -> None:
        http_get(onedrive_content_url(url), dest, progress)

    return HostPlan("onedrive", url, key, inside.rsplit("/", 1)[-1], onedrive_content_url(url), fetch)


def onedrive_content_url(share_url: str) -> str:
    """The OneDrive API URL that serves the content of a share link (of the file after ``#``, if any).

    The API takes the link itself, base64url-encoded without padding and prefixed with ``u!``;
    a file inside a shared folder is addressed by its path relative to the share's root.
    ``ONEDRIVE_API`` is read at call time, so that a copy of the API (or a test) can replace it.
    """
    parts = urllib.parse.urlsplit(share_url)
    share = urllib.parse.urlunsplit(parts._replace(fragment=""))
    inside = urllib.parse.unquote(parts.fragment).strip("/")
    token = "u!" + base64.urlsafe_b64encode(share.encode()).decode().rstrip("=")
    item = f"root:/{urllib.parse.quote(inside)}:" if inside else "root"
    return f"{ONEDRIVE_API.rstrip('/')}/shares/{token}/{item}/content"


def describe_error(e: BaseException) -> str:
    """A short reason for a failed transfer."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"{e.reason}"
    return (str(e) or type(e).__name__).rstrip(".")
