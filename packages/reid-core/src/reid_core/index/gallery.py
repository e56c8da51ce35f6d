"""``GalleryIndex``: a persistent, searchable gallery of ReID features on FAISS, with its metadata in SQLite.

```python
index = GalleryIndex(512, kind="ivfpq", metric="cosine")
index.add(feats, pids=pids, camids=camids, paths=paths)
dist, ids, records = index.search(query_feats, k=10, query_camids=qc, exclude_same_camera=True)
index.save("gallery.idx")
index = GalleryIndex.load("gallery.idx")
```

On disk an index is a folder holding numbered versions and a ``CURRENT`` file naming the live one.
A save writes a complete new version, then replaces ``CURRENT`` with one atomic rename: a crash at
any point leaves the previous version loadable.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReidError
from .metadata import MetadataStore

FORMAT = "reid-zoo-index-v1"
KINDS = ("flat", "ivfpq", "hnsw")
METRICS = ("cosine", "euclidean")
#: facts of the model card that must agree before features of two extractions are compared
CARD_KEYS = ("model", "weights", "input_size", "mean", "std", "feature_dim", "flip")

_PQ_TRAIN_PER_CENTROID = 39  # FAISS's k-means wants this many points per centroid


class GalleryIndexError(ReidError):
    """An index that cannot be built, read or searched as asked."""


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as e:
        raise GalleryIndexError('the gallery index needs FAISS: pip install "reid-core[index]" (faiss-cpu)') from e
    return faiss


class GalleryIndex:
    """A gallery of feature vectors with per-vector metadata, searchable by nearest neighbours.

    Args:
        dim: feature dimension.
        kind: ``"flat"`` (exact, brute force), ``"ivfpq"`` (inverted lists over product-quantized
            codes: compact and fast, approximate) or ``"hnsw"`` (graph, fast, approximate, holds
            the vectors).
        metric: ``"cosine"`` (distance ``1 - cos``; vectors are L2-normalized when added) or
            ``"euclidean"`` (squared, as :func:`reid_core.evaluate_features`).
        model_card: what made the features (model name, weights, input size, normalization);
            searches with features of another card are refused.
        device: ``"cpu"`` or ``"cuda"`` (needs faiss-gpu; the saved index is always a CPU one).
        **params: kind-specific settings. ``ivfpq``: ``nlist`` (inverted lists; default from the
            size of the first add, about ``4 * sqrt(n)``), ``m`` (sub-quantizers, default ``dim / 4``
            bytes per vector), ``nbits`` (8), ``nprobe`` (lists searched, default ``nlist / 32``).
            ``hnsw``: ``M`` (32), ``ef_construction`` (200), ``ef_search`` (128).

    IVF-PQ is trained on the first :meth:`add`, which must then hold enough vectors
    (:meth:`min_train_size`); a smaller first batch is refused with the number needed.
    """

    def __init__(self, dim: int, kind: str = "flat", metric: str = "cosine", *,
                 model_card: Mapping[str, Any] | None = None, device: str = "cpu", **params: Any) -> None:
        if kind not in KINDS:
            raise GalleryIndexError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if metric not in METRICS:
            raise GalleryIndexError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
            raise GalleryIndexError(f"dim must be a positive integer, got {dim!r}")
        allowed = {"flat": set(), "ivfpq": {"nlist", "m", "nbits", "nprobe"},
                   "hnsw": {"M", "ef_construction", "ef_search"}}[kind]
        unknown = set(params) - allowed
        if unknown:
            raise GalleryIndexError(
                f"unknown parameter(s) {sorted(unknown)} for kind={kind!r}; it takes {sorted(allowed) or 'none'}"
            )
        self.dim = int(dim)
        self.kind = kind
        self.metric = metric
        self.params: dict[str, Any] = dict(params)
        self.model_card: dict[str, Any] | None = _card(model_card)
        self.device = device
        self.meta = MetadataStore()
        self._index: Any = None if kind == "ivfpq" else self._new_index()
        self._removed: set[int] = set()  # HNSW cannot delete: its removed ids are filtered out

    # -- building ---------------------------------------------------------------------------
    def _new_index(self, train: np.ndarray | None = None) -> Any:
        faiss = _faiss()
        fmetric = faiss.METRIC_INNER_PRODUCT if self.metric == "cosine" else faiss.METRIC_L2
        if self.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlat(self.dim, fmetric))
        if self.kind == "hnsw":
            m = int(self.params.setdefault("M", 32))
            base = faiss.IndexHNSWFlat(self.dim, m, fmetric)
            base.hnsw.efConstruction = int(self.params.setdefault("ef_construction", 200))
            base.hnsw.efSearch = int(self.params.setdefault("ef_search", 128))
            return faiss.IndexIDMap2(base)
        assert train is not None
        n = len(train)
        nlist = int(self.params.setdefault("nlist", _default_nlist(n)))
        m = int(self.params.setdefault("m", _default_m(self.dim)))
        nbits = int(self.params.setdefault("nbits", 8))
        if self.dim % m:
            raise GalleryIndexError(f"ivfpq: m={m} must divide the dimension {self.dim}")
        need = self.min_train_size()
        if n < need:
            raise GalleryIndexError(
                f"ivfpq: the first add trains the quantizers and needs at least {need} vectors "
                f"(nlist={nlist}, {2 ** nbits} codes per sub-quantizer); got {n}. Add more vectors at once, "
                "lower nlist/nbits, or use kind='flat' (exact; fine up to about a million vectors)"
            )
        quantizer = faiss.IndexFlat(self.dim, fmetric)
        index = faiss.IndexIVFPQ(quantizer, self.dim, nlist, m, nbits, fmetric)
        index.train(train)
        index.nprobe = int(self.params.setdefault("nprobe", max(1, nlist // 32)))
        self._quantizer = quantizer  # the IVF index does not own it: keep it alive
        return index

    def min_train_size(self) -> int:
        """Vectors the first :meth:`add` needs for ``ivfpq`` (0 for the other kinds)."""
        if self.kind != "ivfpq":
            return 0
        nbits = int(self.params.get("nbits", 8))
        nlist = int(self.params.get("nlist", 1))
        return _PQ_TRAIN_PER_CENTROID * max(nlist, 2 ** nbits)

    def _prepare(self, feats: Any, what: str) -> np.ndarray:
        x = np.asarray(feats.detach().cpu() if hasattr(feats, "detach") else feats)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise GalleryIndexError(f"{what}: expected features [n, {self.dim}], got shape {tuple(x.shape)}")
        if not np.issubdtype(x.dtype, np.floating):
            raise GalleryIndexError(f"{what}: features must be floats, got {x.dtype}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise GalleryIndexError(f"{what}: features hold NaN or infinite values")
        if self.metric == "cosine":
            # scale first so that huge or tiny features normalize without overflow or underflow
            peak = np.abs(x).max(axis=1, keepdims=True)
            if (peak == 0).any():
                raise GalleryIndexError(f"{what}: a zero feature vector has no direction (metric='cosine')")
            x = x / peak
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def add(self, feats: Any, pids: Sequence[Any] | None = None, camids: Sequence[Any] | None = None,
            paths: Sequence[str] | None = None, timestamps: Sequence[float] | None = None) -> np.ndarray:
        """Add vectors with their metadata; returns their ids (int64, never reused)."""
        x = self._prepare(feats, "add")
        n = len(x)
        columns = {}
        for name, values in (("pids", pids), ("camids", camids), ("paths", paths), ("timestamps", timestamps)):
            values = [None] * n if values is None else list(np.asarray(values).tolist() if not isinstance(values, list) else values)
            if len(values) != n:
                raise GalleryIndexError(f"add: {name} has {len(values)} entries for {n} features")
            columns[name] = values
        if n == 0:
            return np.empty(0, dtype=np.int64)
        if self._index is None:
            self._index = self._new_index(train=x)
        start = self.meta.next_id()
        ids = np.arange(start, start + n, dtype=np.int64)
        self._index.add_with_ids(x, ids)
        self.meta.add(ids, columns["pids"], columns["camids"], columns["paths"], columns["timestamps"])
        self.meta.db.commit()
        return ids

    def remove(self, ids: Sequence[int]) -> int:
        """Remove vectors by id; returns how many were there. Unknown ids are ignored."""
        wanted = np.unique(np.asarray(list(ids), dtype=np.int64))
        present = np.asarray(sorted(self.meta.existing(wanted.tolist())), dtype=np.int64)
        if len(present) == 0:
            return 0
        if self.kind == "hnsw":
            self._removed.update(int(i) for i in present)
            self.meta.set_fact("removed", sorted(self._removed))
        else:
            self._index.remove_ids(present)
        return self.meta.remove(present.tolist())

    def __len__(self) -> int:
        return self.meta.count()

    # -- searching --------------------------------------------------------------------------
    def search(self, query_feats: Any, k: int, *, query_camids: Sequence[int] | None = None,
               exclude_same_camera: bool = False, time_range: tuple[float, float] | None = None,
               model_card: Mapping[str, Any] | None = None, return_records: bool = True
               ) -> tuple[np.ndarray, np.ndarray, list[list[dict[str, Any]]] | None]:
        """The ``k`` nearest gallery entries of each query.

        Args:
            query_feats: ``[Q, dim]`` features made the way the gallery's were.
            k: neighbours per query.
            query_camids: the queries' cameras (needed by ``exclude_same_camera``).
            exclude_same_camera: leave out gallery entries of the query's own camera.
            time_range: ``(start, end)``: keep only entries whose timestamp lies within, inclusive.
            model_card: the card of the model that made the queries; refused if it differs from
                the index's.
            return_records: also return each hit's metadata.

        Returns:
            ``distances [Q, k]`` (float32; ``inf`` where fewer than ``k`` entries qualify),
            ``ids [Q, k]`` (int64; ``-1`` there), and per query the hits' records (dicts with
            ``id``, ``pid``, ``camid``, ``path``, ``timestamp``), or ``None``.
        """
        self.check_model_card(model_card)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise GalleryIndexError(f"search: k must be a positive integer, got {k!r}")
        q = self._prepare(query_feats, "search")
        num_q = len(q)
        dist = np.full((num_q, k), np.inf, dtype=np.float32)
        ids = np.full((num_q, k), -1, dtype=np.int64)
        if self._index is not None and self._index.ntotal and num_q:
            if exclude_same_camera and query_camids is None:
                raise GalleryIndexError("search: exclude_same_camera=True needs query_camids")
            cams = None
            if query_camids is not None:
                cams = np.asarray(query_camids, dtype=np.int64).reshape(-1)
                if len(cams) != num_q:
                    raise GalleryIndexError(f"search: {len(cams)} query_camids for {num_q} queries")
            allowed = self._allowed(time_range)
            groups = np.unique(cams) if exclude_same_camera else [None]
            for cam in groups:
                rows = np.nonzero(cams == cam)[0] if cam is not None else np.arange(num_q)
                excluded = self.meta.ids_where("camid = ?", (int(cam),)) if cam is not None else None
                d, i = self._search_filtered(q[rows], k, allowed, excluded)
                dist[rows], ids[rows] = d, i
        if self.metric == "cosine":
            found = ids >= 0
            dist[found] = 1.0 - dist[found]  # inner products -> cosine distances
        records = self._records(ids) if return_records else None
        return dist, ids, records

    def _allowed(self, time_range: tuple[float, float] | None) -> np.ndarray | None:
        if time_range is None:
            return None
        start, end = (float(t) for t in time_range)
        if end < start:
            raise GalleryIndexError(f"search: time_range end {end} is before its start {start}")
        return self.meta.ids_where("timestamp BETWEEN ? AND ?", (start, end))

    def _search_filtered(self, q: np.ndarray, k: int, allowed: np.ndarray | None,
                         excluded: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        if self._removed:
            removed = np.fromiter(self._removed, dtype=np.int64)
            excluded = removed if excluded is None else np.concatenate([excluded, removed])
        keep: list[Any] = []  # selectors must outlive the search
        sel = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(allowed)
            keep.append(sel)
        if excluded is not None and len(excluded):
            batch = faiss.IDSelectorBatch(excluded)
            neg = faiss.IDSelectorNot(batch)
            keep += [batch, neg]
            sel = neg if sel is None else faiss.IDSelectorAnd(sel, neg)
            keep.append(sel)
        # a filter can leave a query's probed lists (IVF) or visited graph (HNSW) without k allowed
        # entries: widen the search for those queries until k are found or everything was looked at
        effort = int(self.params["nprobe"] if self.kind == "ivfpq" else self.params.get("ef_search", 0))
        limit = int(self.params["nlist"]) if self.kind == "ivfpq" else self._index.ntotal
        rows = np.arange(len(q))
        d = np.empty((len(q), k), dtype=np.float32)
        i = np.empty((len(q), k), dtype=np.int64)
        while True:
            params = self._search_params(faiss, sel, max(effort, k) if self.kind == "hnsw" else effort)
            d[rows], i[rows] = self._index.search(q[rows], k, params=params)
            short = rows[(i[rows] < 0).any(1)]
            if sel is None or self.kind == "flat" or len(short) == 0 or effort >= limit:
                break
            rows, effort = short, min(limit, effort * 4)
        d = np.where(i >= 0, d, np.float32(np.inf if self.metric == "euclidean" else 0.0))
        return d.astype(np.float32), i

    def _search_params(self, faiss: Any, sel: Any, effort: int) -> Any:
        if self.kind == "ivfpq":
            params = faiss.SearchParametersIVF(nprobe=effort)
        elif self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=effort)
        else:
            params = faiss.SearchParameters()
        if sel is not None:
            params.sel = sel
        return params

    def _records(self, ids: np.ndarray) -> list[list[dict[str, Any]]]:
        found = self.meta.records(ids[ids >= 0].tolist())
        return [[found[int(i)] for i in row if i >= 0 and int(i) in found] for row in ids]

    # -- the model that made the features ---------------------------------------------------
    def check_model_card(self, card: Mapping[str, Any] | None) -> None:
        """Refuse features made by another model, weights, input size or normalization."""
        if card is None or self.model_card is None:
            return
        other = _card(card) or {}
        diff = [k for k in CARD_KEYS if k in self.model_card and k in other and self.model_card[k] != other[k]]
        if diff:
            shown = "; ".join(f"{k}: index {self.model_card[k]!r}, query {other[k]!r}" for k in diff)
            raise GalleryIndexError(
                f"the index was built with other features than the queries ({shown}): features of "
                "different models are not comparable; search with the model the index was built with"
            )

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write the index to ``directory`` atomically (see the module docs); returns the version folder."""
        faiss = _faiss()
        root = Path(directory)
        if root.exists() and not root.is_dir():
            raise GalleryIndexError(f"save: {root} exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        number = 1 + max([_version_number(p.name) for p in root.glob("v*")] + [0])
        version = root / f"v{number:06d}"
        shutil.rmtree(version, ignore_errors=True)
        version.mkdir()
        if self._index is not None:
            index = self._index
            if self.device != "cpu" and hasattr(faiss, "index_gpu_to_cpu"):
                index = faiss.index_gpu_to_cpu(index)
            faiss.write_index(index, str(version / "index.faiss"))
        self.meta.set_fact("removed", sorted(self._removed))
        self.meta.save_to(version / "meta.sqlite")
        header = {
            "format": FORMAT,
            "kind": self.kind,
            "metric": self.metric,
            "dim": self.dim,
            "params": self.params,
            "model_card": self.model_card,
            "count": len(self),
        }
        (version / "index.json").write_text(json.dumps(header, indent=2) + "\n")
        for f in version.iterdir():
            _fsync(f)
        _fsync(version)
        tmp = root / "CURRENT.tmp"
        tmp.write_text(version.name + "\n")
        _fsync(tmp)
        os.replace(tmp, root / "CURRENT")  # the commit point
        _fsync(root)
        for old in root.glob("v*"):  # earlier versions and any left by a crashed save
            if old.name != version.name:
                shutil.rmtree(old, ignore_errors=True)
        return version

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str = "cpu") -> GalleryIndex:
        """Read an index written by :meth:`save`."""
        faiss = _faiss()
        root = Path(directory)
        name = _read_current(root)
        if name is None:
            raise GalleryIndexError(f"{root} is not a reid-zoo gallery index (no CURRENT file)")
        version = root / name
        try:
            header = json.loads((version / "index.json").read_text())
        except (OSError, ValueError) as e:
            raise GalleryIndexError(f"cannot read {version / 'index.json'}: {e}") from e
        if header.get("format") != FORMAT:
            raise GalleryIndexError(f"{version}: unknown index format {header.get('format')!r} (expected {FORMAT})")
        self = cls.__new__(cls)
        self.dim, self.kind, self.metric = int(header["dim"]), header["kind"], header["metric"]
        self.params = dict(header.get("params") or {})
        self.model_card = header.get("model_card")
        self.device = device
        self.meta = MetadataStore(version / "meta.sqlite")
        self._removed = set(self.meta.fact("removed", []))
        path = version / "index.faiss"
        self._index = faiss.read_index(str(path)) if path.is_file() else None
        if self._index is None and self.kind != "ivfpq":
            self._index = self._new_index()
        if self.kind == "ivfpq" and self._index is not None:
            self._index.nprobe = int(self.params.get("nprobe", 1))
        if device != "cpu":
            self._to_device(device)
        return self

    def _to_device(self, device: str) -> None:
        faiss = _faiss()
        if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
            raise GalleryIndexError(f"device={device!r} needs faiss-gpu and a GPU; this FAISS has none")
        self._gpu = faiss.StandardGpuResources()
        self._index = faiss.index_cpu_to_gpu(self._gpu, 0, self._index)

    def info(self) -> dict[str, Any]:
        """What the index is: kind, metric, dim, size, parameters, model card, memory of the vectors."""
        return {
            "kind": self.kind,
            "metric": self.metric,
            "dim": self.dim,
            "count": len(self),
            "params": dict(self.params),
            "model_card": self.model_card,
            "approximate": self.kind != "flat",
        }

    def iter_vectors(self, rows: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, vectors)`` blocks of a flat index, as stored (normalized for cosine), without a copy.

        The blocks are views of the index's memory: use each before the index changes.
        """
        if self.kind != "flat":
            raise GalleryIndexError(f"iter_vectors() needs a flat index; a {self.kind} index keeps no exact copy")
        faiss = _faiss()
        if self._index is None or self._index.ntotal == 0:
            return
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        flat = faiss.downcast_index(self._index.index)
        vecs = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * self.dim).reshape(flat.ntotal, self.dim)
        for r0 in range(0, flat.ntotal, rows):
            yield ids[r0 : r0 + rows], vecs[r0 : r0 + rows]

    def close(self) -> None:
        """Release the metadata's working copy."""
        self.meta.close()


def _card(card: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if card is None:
        return None
    out = {}
    for key, value in card.items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return json.loads(json.dumps(out))


def _default_nlist(n: int) -> int:
    # about 4 sqrt(n) lists, a power of two, with enough points per list to train on
    nlist = 2 ** round(math.log2(max(4 * math.sqrt(max(n, 1)), 1)))
    return int(max(1, min(nlist, n // _PQ_TRAIN_PER_CENTROID, 65536)))


def _default_m(dim: int) -> int:
    # dim / 4 bytes per vector (8-bit codes over 4-d sub-vectors): the recall a ReID gallery
    # needs; the largest divisor of dim not above that
    target = max(1, dim // 4)
    return max(m for m in range(1, target + 1) if dim % m == 0)


def _read_current(root: Path) -> str | None:
    try:
        name = (root / "CURRENT").read_text().strip()
    except OSError:
        return None
    return name or None


def _version_number(name: str) -> int:
    try:
        return int(name[1:])
    except ValueError:
        return 0


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

