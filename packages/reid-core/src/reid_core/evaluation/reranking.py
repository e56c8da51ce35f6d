"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017), batched and chunked, on the device of the features.

It follows the authors' released procedure (the one reid-strong-baseline, TransReID and torchreid
ship), with queries and gallery pooled into one set of ``N`` points:

1. ``d`` is the chosen metric between all points, each row divided by its maximum.
2. ``R(p, k1)``: the points among the ``k1 + 1`` nearest of ``p`` that have ``p`` among their own
   ``k1 + 1`` nearest (``p`` itself included).
3. ``R*(p)``: ``R(p, k1)``, grown by ``R(c, round(k1 / 2))`` for every ``c`` in it whose half-size set
   shares more than two thirds of its members with ``R(p, k1)``.
4. ``V[p, x] = exp(-d(p, x))`` over ``x`` in ``R*(p)``, each row scaled to sum to one.
5. Local query expansion: each row of ``V`` becomes the mean of the rows of its ``k2`` nearest points.
6. Jaccard distance ``1 - sum(min(V_p, V_g)) / sum(max(V_p, V_g))``, with ``sum max = 2 - sum min``
   since rows sum to one, and the result ``(1 - lambda) * jaccard + lambda * d``.

``V`` is kept sparse (a few hundred entries per row), so memory grows with ``N``, not ``N^2``; the
``N x N`` distances are only ever seen a chunk of rows at a time. ``V`` is computed in the features'
precision (float32 or float64) rather than the float16 of the released code.
"""

from __future__ import annotations

from typing import Any

import torch

from ._memory import default_budget, groups_within, rows_per_chunk
from .distance import GalleryDistance, common_features


class KReciprocal:
    """Prepared k-reciprocal re-ranking of one query set against one gallery.

    Building it runs steps 1-5 for all points; :meth:`query_rows` then produces the re-ranked
    distances of any block of queries.

    Args:
        q: query features ``[Q, D]``; ``g``: gallery features ``[G, D]`` (same device and dtype).
        k1, k2, lambda_value: the paper's parameters.
        metric: base distance, ``"euclidean"`` (squared, as the released code) or ``"cosine"``; after
            the row normalization, cosine equals squared euclidean on L2-normalized features.
        memory_budget: bytes of working memory.
    """

    def __init__(self, q: torch.Tensor, g: torch.Tensor, k1: int = 20, k2: int = 6, lambda_value: float = 0.3,
                 metric: str = "euclidean", memory_budget: int | None = None) -> None:
        if int(k1) < 1 or int(k2) < 1:
            raise ValueError(f"k1 and k2 must be at least 1, got k1={k1}, k2={k2}")
        if not 0.0 <= float(lambda_value) <= 1.0:
            raise ValueError(f"lambda_value must lie in [0, 1], got {lambda_value}")
        self.num_query, self.num_gallery = len(q), len(g)
        self.lambda_value = float(lambda_value)
        self.budget = memory_budget or default_budget(q.device)
        feats = torch.cat([q, g])
        n = len(feats)
        self.device, self.dtype = feats.device, feats.dtype
        self.all = GalleryDistance(feats, metric)
        self.points = self.all.prepare_queries(feats)
        self.gallery = GalleryDistance(g, metric)
        self.queries = q

        k_full, k_half, k_qe = min(int(k1) + 1, n), min(round(int(k1) / 2) + 1, n), min(int(k2), n)
        self.row_max, knn = self._neighbours(max(k_full, k_qe))
        near_full, near_half = knn[:, :k_full].contiguous(), knn[:, :k_half].contiguous()
        recip_full, recip_half = self._reciprocal(near_full), self._reciprocal(near_half)
        rows, cols, vals = self._encode(near_full, recip_full, near_half, recip_half)
        if k_qe > 1:
            rows, cols, vals = self._expand_locally(rows, cols, vals, knn[:, :k_qe])
        # per re-ranked cell: shared mass, Jaccard, base distance, and the metrics' candidate search
        self.bytes_per_cell = 4 * feats.element_size() + 10
        # CSR rows of V, and an inverted index (by column) of its gallery rows
        self.crow = _row_pointers(rows, n)
        self.cols, self.vals = cols, vals
        in_gallery = rows >= self.num_query
        g_rows, g_cols, g_vals = rows[in_gallery] - self.num_query, cols[in_gallery], vals[in_gallery]
        order = torch.argsort(g_cols, stable=True)
        self.inv_rows, self.inv_vals = g_rows[order], g_vals[order]
        self.inv_ptr = _row_pointers(g_cols[order], n)

    def _neighbours(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Row maxima of the distances and the ``k`` nearest points of every point, nearest first."""
        n = len(self.points)
        row_max = torch.empty(n, dtype=self.dtype, device=self.device)
        knn = torch.empty(n, k, dtype=torch.int64, device=self.device)
        step = rows_per_chunk(n, 2 * self.points.element_size(), self.budget)
        buffer = torch.empty(min(step, n), n, dtype=self.dtype, device=self.device)
        for r0 in range(0, n, step):
            block = self.points[r0 : r0 + step]
            d = self.all.rows(block, out=buffer[: len(block)])
            row_max[r0 : r0 + step] = d.max(1).values
            knn[r0 : r0 + step] = d.topk(k, dim=1, largest=False, sorted=True).indices
        # a zero row maximum (all points identical) would divide by zero; any scale keeps the order
        return torch.where(row_max > 0, row_max, torch.ones_like(row_max)), knn

    def _reciprocal(self, near: torch.Tensor) -> torch.Tensor:
        """bool ``[N, k]``: ``near[p, a]`` has ``p`` among its own ``k`` nearest."""
        n, k = near.shape
        out = torch.empty(n, k, dtype=torch.bool, device=self.device)
        step = rows_per_chunk(k * k, 9, self.budget)
        for r0 in range(0, n, step):
            block = near[r0 : r0 + step]
            me = torch.arange(r0, r0 + len(block), device=self.device).view(-1, 1, 1)
            out[r0 : r0 + step] = (near[block] == me).any(2)
        return out

    def _encode(self, near_full: torch.Tensor, recip_full: torch.Tensor, near_half: torch.Tensor,
                recip_half: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sparse ``V`` (steps 3-4) as row-major sorted ``(rows, cols, vals)``."""
        n, k_full = near_full.shape
        k_half = near_half.shape[1]
        sq = self.points.pow(2).sum(1) if self.all.metric == "euclidean" else None
        out_rows, out_cols, out_vals = [], [], []
        # per row: the membership flags, the candidates' half-size sets and the grown entries
        step = rows_per_chunk(n + 24 * k_full * k_half, 1, self.budget // 2)
        for r0 in range(0, n, step):
            r1 = min(r0 + step, n)
            c = r1 - r0
            members = torch.zeros(c, n, dtype=torch.bool, device=self.device)
            local = torch.arange(c, device=self.device)
            keep = recip_full[r0:r1]
            members[local.unsqueeze(1).expand(-1, k_full)[keep], near_full[r0:r1][keep]] = True
            # candidates c in R(p): their half-size sets and overlap with R(p)
            cand = near_full[r0:r1]
            half = near_half[cand]  # [c, k_full, k_half]
            half_ok = recip_half[cand]
            overlap = (members.gather(1, half.view(c, -1)).view_as(half) & half_ok).sum(2)
            accept = keep & (3 * overlap > 2 * half_ok.sum(2))
            grow = accept.unsqueeze(2) & half_ok
            owner = local.view(c, 1, 1).expand_as(half)
            members[owner[grow], half[grow]] = True
            rows, cols = members.nonzero(as_tuple=True)
            del members
            dist = self._pair_distances(rows + r0, cols, sq) / self.row_max[rows + r0]
            weight = torch.exp(-dist)
            total = torch.zeros(c, dtype=weight.dtype, device=self.device).index_add_(0, rows, weight)
            out_rows.append(rows + r0)
            out_cols.append(cols)
            out_vals.append(weight / total[rows])
        return torch.cat(out_rows), torch.cat(out_cols), torch.cat(out_vals)

    def _pair_distances(self, a: torch.Tensor, b: torch.Tensor, sq: torch.Tensor | None) -> torch.Tensor:
        """Distances between points ``a[i]`` and ``b[i]``, computed in slices that fit the budget."""
        out = torch.empty(len(a), dtype=self.dtype, device=self.device)
        step = max(1, self.budget // (8 * self.points.shape[1] * self.points.element_size()))
        for s in range(0, len(a), step):
            i, j = a[s : s + step], b[s : s + step]
            dots = (self.points[i] * self.points[j]).sum(1)
            if sq is None:
                out[s : s + step] = 1.0 - dots
            else:
                out[s : s + step] = (sq[i] + sq[j] - 2.0 * dots).clamp(min=0.0)
        return out

    def _expand_locally(self, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor,
                        near: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step 5: each row of ``V`` replaced by the mean of the rows of its nearest points."""
        n, k = near.shape
        crow = _row_pointers(rows, n)
        lens = (crow[1:] - crow[:-1])[near]  # [N, k] entries of each neighbour's row
        out_rows, out_cols, out_vals = [], [], []
        for a, b in groups_within(lens.sum(1), max(1, self.budget // 48)):
            owner, pos = _expand(crow[near[a:b]].reshape(-1), lens[a:b].reshape(-1))
            owner = owner // k
            # sum the duplicates of each (row, col): unique keys in row-major order
            keys, inverse = torch.unique(owner * n + cols[pos], return_inverse=True)
            summed = torch.zeros(len(keys), dtype=vals.dtype, device=self.device)
            summed.index_add_(0, inverse, vals[pos])
            out_rows.append(keys // n + a)
            out_cols.append(keys % n)
            out_vals.append(summed / k)
        return torch.cat(out_rows), torch.cat(out_cols), torch.cat(out_vals)

    def query_rows(self, r0: int, r1: int) -> torch.Tensor:
        """Re-ranked distances ``[r1 - r0, G]`` of queries ``r0:r1``."""
        c, num_g = r1 - r0, self.num_gallery
        shared = torch.zeros(c * num_g, dtype=self.dtype, device=self.device)
        owner, pos = _expand(self.crow[r0:r1], self.crow[r0 + 1 : r1 + 1] - self.crow[r0:r1])
        cols, vals = self.cols[pos], self.vals[pos]
        # sum over shared columns of min(V_q, V_g), through the inverted index of the gallery rows
        lens = self.inv_ptr[cols + 1] - self.inv_ptr[cols]
        for a, b in groups_within(lens, max(1, self.budget // 48)):
            entry, at = _expand(self.inv_ptr[cols[a:b]], lens[a:b])
            mins = torch.minimum(vals[a:b][entry], self.inv_vals[at])
            shared.index_add_(0, owner[a:b][entry] * num_g + self.inv_rows[at], mins)
        shared = shared.view(c, num_g)
        jaccard = 1.0 - shared / (2.0 - shared)
        base = self.gallery.rows(self.gallery.prepare_queries(self.queries[r0:r1]))
        base /= self.row_max[r0:r1].unsqueeze(1)
        return jaccard.mul_(1.0 - self.lambda_value).add_(base, alpha=self.lambda_value)


def reranking(q_feats: Any, g_feats: Any, k1: int = 20, k2: int = 6, lambda_value: float = 0.3, *,
              metric: str = "euclidean", memory_budget: int | None = None) -> torch.Tensor:
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017): the re-ranked distances ``[Q, G]``.

    Args:
        q_feats: query features ``[Q, D]`` (torch tensor on CPU or CUDA, or numpy array).
        g_feats: gallery features ``[G, D]``.
        k1: size of the k-reciprocal neighbourhoods (paper: 20).
        k2: neighbours of the local query expansion (paper: 6; 1 turns it off).
        lambda_value: weight of the original distance in the result (paper: 0.3).
        metric: base distance, ``"euclidean"`` (squared, as the released code) or ``"cosine"``.
        memory_budget: bytes of working memory.

    Returns:
        ``(1 - lambda) * jaccard + lambda * d / max_row(d)`` on the device of the features. It holds
        the whole ``[Q, G]`` result; :func:`~reid_core.evaluation.evaluate_features` with
        ``rerank=True`` scores it a chunk at a time instead.
    """
    q, g = common_features(q_feats, g_feats)
    rr = KReciprocal(q, g, k1, k2, lambda_value, metric, memory_budget)
    step = rows_per_chunk(len(g), rr.bytes_per_cell, rr.budget)
    return torch.cat([rr.query_rows(r0, min(r0 + step, len(q))) for r0 in range(0, len(q), step)])


def _row_pointers(rows: torch.Tensor, n: int) -> torch.Tensor:
    """CSR row pointers ``[n + 1]`` of sorted row indices."""
    ptr = torch.zeros(n + 1, dtype=torch.int64, device=rows.device)
    ptr[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    return ptr


def _expand(starts: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ranges ``[starts[i], starts[i] + lens[i])``: each position, and the index ``i`` it belongs to."""
    owner = torch.repeat_interleave(torch.arange(len(lens), device=lens.device), lens)
    offsets = torch.cumsum(lens, 0) - lens
    pos = starts[owner] + torch.arange(len(owner), device=lens.device) - offsets[owner]
    return owner, pos
