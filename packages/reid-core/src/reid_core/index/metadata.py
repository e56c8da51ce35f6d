"""The gallery's metadata in SQLite: one row per vector (pid, camid, path, time), plus key/value facts.

A live index works on a private copy of the database in a temporary folder, so that adding and
removing never touch a saved version; :meth:`MetadataStore.save_to` writes a consistent copy
with SQLite's backup API.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    pid INTEGER,
    camid INTEGER,
    path TEXT,
    timestamp REAL
);
CREATE INDEX IF NOT EXISTS items_camid ON items (camid);
CREATE INDEX IF NOT EXISTS items_timestamp ON items (timestamp);
CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: Columns of a record, in the order :meth:`MetadataStore.records` returns them.
RECORD_FIELDS = ("id", "pid", "camid", "path", "timestamp")

_IN_CHUNK = 900  # bound parameters per "IN (...)": SQLite's limit is 999 on old builds


class MetadataStore:
    """Per-vector metadata and index-wide facts, in a working SQLite file of its own."""

    def __init__(self, source: str | os.PathLike | None = None) -> None:
        self._dir = tempfile.mkdtemp(prefix="reid-index-")
        self.path = Path(self._dir) / "meta.sqlite"
        if source is not None:
            with sqlite3.connect(f"file:{Path(source)}?mode=ro", uri=True) as src, sqlite3.connect(self.path) as dst:
                src.backup(dst)
        self.db = sqlite3.connect(self.path)
        # the working copy is disposable: durability comes from save_to, not from every write
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript(_SCHEMA)

    # -- facts ------------------------------------------------------------------------------
    def set_fact(self, key: str, value: Any) -> None:
        """Store a JSON-serializable value under ``key``."""
        self.db.execute("INSERT OR REPLACE INTO facts (key, value) VALUES (?, ?)", (key, json.dumps(value)))
        self.db.commit()

    def fact(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        row = self.db.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- items ------------------------------------------------------------------------------
    def next_id(self) -> int:
        """The first id never used (ids of removed items are not reused)."""
        return int(self.fact("next_id", 0))

    def add(self, ids: np.ndarray, pids: Sequence[Any], camids: Sequence[Any], paths: Sequence[Any],
            timestamps: Sequence[Any]) -> None:
        """Insert one row per id."""
        rows = zip(
            (int(i) for i in ids),
            (None if p is None else int(p) for p in pids),
            (None if c is None else int(c) for c in camids),
            (None if p is None else str(p) for p in paths),
            (None if t is None else float(t) for t in timestamps),
        )
        self.db.executemany("INSERT INTO items (id, pid, camid, path, timestamp) VALUES (?, ?, ?, ?, ?)", rows)
        self.set_fact("next_id", int(ids[-1]) + 1 if len(ids) else self.next_id())

    def remove(self, ids: Iterable[int]) -> int:
        """Delete rows; returns how many existed."""
        before = self.count()
        for chunk in _chunks([int(i) for i in ids]):
            self.db.execute(f"DELETE FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        self.db.commit()
        return before - self.count()

    def count(self) -> int:
        """Number of rows."""
        return int(self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def existing(self, ids: Iterable[int]) -> set[int]:
        """The subset of ``ids`` that has a row."""
        found: set[int] = set()
        for chunk in _chunks([int(i) for i in ids]):
            q = f"SELECT id FROM items WHERE id IN ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self.db.execute(q, chunk))
        return found

    def ids_where(self, where: str, args: Sequence[Any] = ()) -> np.ndarray:
        """Ids of the rows matching an SQL condition, as int64."""
        cur = self.db.execute(f"SELECT id FROM items WHERE {where}", tuple(args))
        return np.fromiter((r[0] for r in cur), dtype=np.int64)

    def records(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """id -> record dict (``id``, ``pid``, ``camid``, ``path``, ``timestamp``) for existing ids."""
        out: dict[int, dict[str, Any]] = {}
        wanted = sorted({int(i) for i in ids if i >= 0})
        for chunk in _chunks(wanted):
            q = f"SELECT {', '.join(RECORD_FIELDS)} FROM items WHERE id IN ({','.join('?' * len(chunk))})"
            for row in self.db.execute(q, chunk):
                out[row[0]] = dict(zip(RECORD_FIELDS, row))
        return out

    def labels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, pids, camids) of every row, ordered by id; missing pids/camids read as -1."""
        rows = self.db.execute("SELECT id, COALESCE(pid, -1), COALESCE(camid, -1) FROM items ORDER BY id").fetchall()
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy()

    # -- persistence ------------------------------------------------------------------------
    def save_to(self, path: str | os.PathLike) -> None:
        """Write a consistent copy of the database to ``path`` (which must not exist yet)."""
        self.db.commit()
        with sqlite3.connect(path) as dst:
            self.db.backup(dst)
        dst.close()

    def close(self) -> None:
        """Close the working copy and delete it."""
        try:
            self.db.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __del__(self) -> None:  # a forgotten index must not leave its working copy behind
        try:
            self.close()
        except Exception:
            pass


def _chunks(values: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield values[i : i + _IN_CHUNK]
