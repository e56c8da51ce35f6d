"""Local imitations of the hosts upstream weights live on, served by tests/http_server.py.

Each speaks the part of its host's HTTP protocol that a download goes through:

- Google Drive: ``/uc?id=ID`` answers a small file at once (``Content-Disposition: attachment``);
  a large one gets the "cannot scan for viruses" page, an HTML form ``#download-form`` whose
  action is ``https://drive.usercontent.google.com/download`` with hidden ``id``, ``export``,
  ``confirm`` and ``uuid`` inputs; only that second request, with the uuid it handed out,
  returns the file. gdown always starts at ``https://drive.google.com/uc?id=...``, so
  :func:`route_google_to` reroutes both Google hosts to the local server at the transport
  level (requests' HTTPAdapter), leaving gdown's own logic untouched.
- Hugging Face Hub: ``HEAD``/``GET /<repo>/resolve/<revision>/<path>`` answers 302 to a CDN
  (a second local server) with ``X-Repo-Commit``, ``X-Linked-Etag``, ``X-Linked-Size`` and
  ``ETag``, like an LFS file on the Hub; unknown files get 404 with ``X-Error-Code: EntryNotFound``.
- OneDrive: ``/v1.0/shares/u!<base64url of the share link>/root/content`` (or
  ``.../root:/<path>:/content`` for a file in a shared folder) answers 302 to the file.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
import uuid

from .http_server import FileServer

DRIVE_HOSTS = ("https://drive.google.com", "https://drive.usercontent.google.com")


class DriveImitation:
    def __init__(self, server: FileServer, large: int = 100_000) -> None:
        self.server = server
        self.large = large  # files at least this big need the confirmation step
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (name, bytes)
        self.issued: set[str] = set()
        self.confirmed = 0
        server.routes.append((r"/uc\?.*", self._uc))
        server.routes.append((r"/download\?.*", self._download))

    def add(self, file_id: str, name: str, data: bytes) -> str:
        self.files[file_id] = (name, data)
        return f"https://drive.google.com/file/d/{file_id}/view?usp=share_link"

    def _file(self, name: str, data: bytes):
        return 200, {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{name}"',
        }, data

    def _uc(self, method, path, headers):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        file_id = query.get("id", [""])[0]
        if file_id not in self.files:
            return 404, {"Content-Type": "text/html"}, b"<html><body>Not Found</body></html>"
        name, data = self.files[file_id]
        if len(data) < self.large:
            return self._file(name, data)
        token = uuid.uuid4().hex
        self.issued.add(token)
        page = (
            "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
            '<div class="uc-main"><p class="uc-warning-caption">Google Drive can\'t scan this file for viruses.</p>'
            f"<p>{name} ({len(data) // 1_000_000} MB) is too large for Google to scan for viruses. "
            "Would you still like to download this file?</p>"
            '<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">'
            '<input type="submit" id="uc-download-link" value="Download anyway"/>'
            f'<input type="hidden" name="id" value="{file_id}">'
            '<input type="hidden" name="export" value="download">'
            '<input type="hidden" name="confirm" value="t">'
            f'<input type="hidden" name="uuid" value="{token}">'
            "</form></div></body></html>"
        ).encode()
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page

    def _download(self, method, path, headers):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        file_id = query.get("id", [""])[0]
        if file_id not in self.files or query.get("confirm") != ["t"] or query.get("uuid", [""])[0] not in self.issued:
            return 400, {"Content-Type": "text/html"}, b"<html><body>Bad Request</body></html>"
        self.confirmed += 1
        return self._file(*self.files[file_id])


def route_google_to(monkeypatch, server: FileServer) -> None:
    """Send requests' traffic for the Google Drive hosts to ``server`` (plain HTTP on 127.0.0.1)."""
    import requests.adapters

    send = requests.adapters.HTTPAdapter.send

    def rerouted(self, request, *args, **kwargs):
        for host in DRIVE_HOSTS:
            if request.url.startswith(host + "/"):
                request.url = server.base + request.url[len(host):]
                request.headers.pop("Host", None)
        return send(self, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", rerouted)


class HubImitation:
    def __init__(self, hub: FileServer, cdn: FileServer) -> None:
        self.hub, self.cdn = hub, cdn
        self.commit = hashlib.sha1(b"reid-zoo").hexdigest()
        self.files: dict[tuple[str, str, str], bytes] = {}
        hub.routes.append((r"/(.+?)/resolve/([^/]+)/(.+)", self._resolve))

    def add(self, repo: str, filename: str, data: bytes, revision: str = "main") -> str:
        self.files[(repo, revision, filename)] = data
        digest = hashlib.sha256(data).hexdigest()
        self.cdn.files[f"/repos/{digest}"] = data
        return f"https://huggingface.co/{repo}/resolve/{revision}/{filename}"

    def _resolve(self, method, path, headers):
        match = re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", urllib.parse.unquote(path.split("?")[0]))
        repo, revision, filename = match.groups()
        repo = repo.removeprefix("models/")
        data = self.files.get((repo, revision, filename))
        if data is None:
            return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.commit,
                         "Content-Type": "application/json"}, b'{"error":"Entry not found"}'
        digest = hashlib.sha256(data).hexdigest()
        return 302, {
            "Location": f"{self.cdn.base}/repos/{digest}",
            "X-Repo-Commit": self.commit,
            "X-Linked-Etag": f'"{digest}"',
            "X-Linked-Size": str(len(data)),
            "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
        }, b""


class OneDriveImitation:
    def __init__(self, server: FileServer) -> None:
        self.server = server
        self.shares: dict[str, bytes] = {}  # share link (+ "#path") -> bytes
        server.routes.append((r"/v1\.0/shares/u!([-\w]+)/root(?::/(.+):)?/content", self._content))

    def add(self, share_link: str, data: bytes, inside: str = "") -> str:
        self.shares[share_link + (f"#{inside}" if inside else "")] = data
        return share_link + (f"#{inside}" if inside else "")

    def _content(self, method, path, headers):
        match = re.fullmatch(r"/v1\.0/shares/u!([-\w]+)/root(?::/(.+):)?/content", path)
        token, inside = match.groups()
        link = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        key = link + (f"#{urllib.parse.unquote(inside)}" if inside else "")
        if key not in self.shares:
            return 404, {"Content-Type": "application/json"}, b'{"error":{"code":"itemNotFound"}}'
        blob = f"/download/{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        self.server.files[blob] = self.shares[key]
        return 302, {"Location": self.server.base + blob}, b""
