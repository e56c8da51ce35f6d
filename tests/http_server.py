"""A real HTTP server on 127.0.0.1 for download tests: serves byte blobs, counts requests,
and can misbehave the way real networks and servers do.

``files[path] = bytes`` serves a file; ``mode[path]`` makes it misbehave:

- ``"truncate"``: sends Content-Length, then closes after half the body;
- ``"stall"``: sends half the body and hangs;
- ``"no-length-truncate"``: no Content-Length, half the body, then closes;
- ``"short-length"``: a Content-Length of half the body, then the whole body;
- ``"gzip"``: the body gzip-compressed, with ``Content-Encoding: gzip``.

``routes`` imitates a host's protocol: ``routes.append((regex, fn))`` answers requests whose path
(with its query) matches ``regex`` with ``fn(method, path, headers) -> (status, headers, body)``.
"""

from __future__ import annotations

import gzip
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = tuple[int, dict[str, str], bytes]


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode: dict[str, str] = {}  # path -> one of the modes above
        self.routes: list[tuple[str, Callable[[str, str, dict[str, str]], Reply]]] = []
        self.hits: Counter[str] = Counter()
        self.delay = 0.0  # seconds before answering, to widen race windows
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # so that a missing Content-Length means "until close"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                self._answer("HEAD")

            def do_GET(self) -> None:
                self._answer("GET")

            def _answer(self, method: str) -> None:
                server.hits[self.path] += 1
                if server.delay:
                    time.sleep(server.delay)
                for pattern, fn in server.routes:
                    if re.fullmatch(pattern, self.path):
                        status, headers, body = fn(method, self.path, dict(self.headers))
                        self._send(method, status, headers, body)
                        return
                body = server.files.get(self.path)
                if body is None:
                    self._send(method, 404, {}, b"not found")
                    return
                mode = server.mode.get(self.path)
                if mode == "gzip":
                    self._send(method, 200, {"Content-Encoding": "gzip"}, gzip.compress(body))
                    return
                self.send_response(200)
                if mode == "no-length-truncate":
                    self.send_header("Connection", "close")
                elif mode == "short-length":
                    self.send_header("Content-Length", str(len(body) // 2))
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method == "HEAD":
                    return
                if mode in ("truncate", "stall", "no-length-truncate"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if mode == "stall":
                        time.sleep(30)
                    self.close_connection = True
                    return  # the connection closes short of the body
                self.wfile.write(body)
                if mode == "short-length":
                    self.close_connection = True

            def _send(self, method: str, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                headers = {"Content-Length": str(len(body)), **headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url(path: str = "/w.pth") -> str:
    """A loopback URL nobody listens on: connection refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
