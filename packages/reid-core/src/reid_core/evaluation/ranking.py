"""CMC, AP and INP under the Market-1501 protocol, from distance rows, without sorting the gallery.

For one query, let the *list* be the gallery in ascending ``(distance, gallery index)`` order, with
the entries of the query's pid **and** camera removed. Only the positions of the true matches in that
list matter: the match ``j`` (0-based, in list order) sits at position ``j + c_j``, where ``c_j`` counts
the non-matches that come before it. A non-match comes before match ``j`` exactly when fewer than
``j + 1`` matches come before the non-match, so ``c_j`` is a cumulative histogram of, for each
non-match, the number of matches ahead of it: a search in the query's (short) sorted match list.
Non-matches behind the last match never count, so only the entries up to the last match's distance
are looked at.

The search runs for all entries of a chunk of queries at once: each row's matches become int64 keys
``(row << 32) + order-preserving bits of the float32 distance``, one ascending sequence for the whole
chunk, and ``torch.searchsorted`` places every entry. Equal keys (equal distances, or float64
distances that round to the same float32) are settled exactly by a batched binary search on
``(distance, gallery index)``, so ties follow the gallery order and float64 inputs lose nothing.

Matches are found from the pids alone (the gallery grouped by pid), so no ``[Q, G]`` comparison of
labels is needed either. The only Python loops are over chunks and over the ``log2`` steps of the
tie search.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: bytes per candidate entry searched at once (indices, keys, values and temporaries)
CANDIDATE_BYTES = 64
#: bytes per (query, same-pid gallery entry) slot: indices, masks, sorted lists, keys, positions
PER_MATCH_BYTES = 160


class GalleryGroups:
    """The gallery grouped by pid, to list each query's same-pid gallery entries.

    Args:
        g_pids: int64 ``[G]``.
    """

    def __init__(self, g_pids: torch.Tensor) -> None:
        # stable, so that within a pid the gallery indices stay ascending
        self.order = torch.argsort(g_pids, stable=True)
        pids, counts = torch.unique_consecutive(g_pids[self.order], return_counts=True)
        self.pids = pids
        self.counts = counts
        self.starts = torch.cumsum(counts, 0) - counts

    def lookup(self, q_pids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per query, where its pid's gallery entries start in :attr:`order`, and how many there are."""
        pos = torch.searchsorted(self.pids, q_pids).clamp_(max=len(self.pids) - 1)
        found = self.pids[pos] == q_pids
        zero = torch.zeros_like(pos)
        return torch.where(found, self.starts[pos], zero), torch.where(found, self.counts[pos], zero)


@dataclass
class SamePid:
    """A chunk's same-pid gallery entries, padded to ``width`` per query."""

    gidx: torch.Tensor
    """int64 ``[c, width]`` gallery indices, ascending within a row (padding repeats a valid index)."""
    in_group: torch.Tensor
    """bool ``[c, width]``: the entry is real (not padding)."""
    is_match: torch.Tensor
    """bool ``[c, width]``: a true match (same pid, other camera)."""


class RankAccumulator:
    """Accumulates CMC, AP and INP over chunks of query rows of the distance matrix.

    Args:
        q_pids, g_pids, q_camids, g_camids: int64 label tensors on the working device.
        max_rank: length of the CMC curve.
        per_query: keep each query's AP and INP.
    """

    def __init__(self, q_pids: torch.Tensor, g_pids: torch.Tensor, q_camids: torch.Tensor,
                 g_camids: torch.Tensor, max_rank: int, per_query: bool = False) -> None:
        self.q_pids, self.g_pids = q_pids, g_pids
        self.q_camids, self.g_camids = q_camids, g_camids
        self.max_rank = max_rank
        self.groups = GalleryGroups(g_pids)
        self.q_start, self.q_count = self.groups.lookup(q_pids)
        self.width = int(self.q_count.max()) if len(q_pids) else 0
        device = q_pids.device
        self.cmc_hits = torch.zeros(max_rank + 1, dtype=torch.int64, device=device)
        self.ap_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.inp_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.num_valid = torch.zeros((), dtype=torch.int64, device=device)
        self.ap = torch.full((len(q_pids),), float("nan"), dtype=torch.float64, device=device) if per_query else None
        self.inp = torch.full_like(self.ap, float("nan")) if per_query else None
        self._mask_buffer: torch.Tensor | None = None

    def same_pid(self, r0: int, r1: int) -> SamePid:
        """The same-pid gallery entries of queries ``r0:r1``."""
        t = torch.arange(self.width, device=self.q_pids.device)
        count = self.q_count[r0:r1, None]
        in_group = t < count
        slot = (self.q_start[r0:r1, None] + torch.minimum(t, (count - 1).clamp(min=0)))
        gidx = self.groups.order[slot.clamp_(max=len(self.g_pids) - 1)]
        is_match = in_group & (self.g_camids[gidx] != self.q_camids[r0:r1, None])
        return SamePid(gidx, in_group, is_match)

    def update(self, r0: int, d: torch.Tensor, same: SamePid | None = None, budget: int = 2**27) -> None:
        """Add the query rows ``r0 : r0 + len(d)`` given their distances ``d [c, G]``.

        ``budget`` bounds (in bytes) the arrays of the candidate search; rows are processed in groups
        that fit.
        """
        c = d.shape[0]
        if c == 0 or self.width == 0:
            return
        rows_fit = max(1, budget // (PER_MATCH_BYTES * self.width))
        if c > rows_fit:  # many images of one pid: the [rows, width] arrays must fit too
            for a in range(0, c, rows_fit):
                self.update(r0 + a, d[a : a + rows_fit], budget=budget)
            return
        d = d.contiguous()
        same = self.same_pid(r0, r0 + c) if same is None else same
        matches = MatchLists(d, same)
        num_matches, valid = matches.count, matches.count > 0
        last = matches.dist.gather(1, (num_matches - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        threshold = torch.where(valid, last, torch.full_like(last, -float("inf")))
        # entries behind a row's last match never come before a match, and same-pid entries are not
        # non-matches: all the others are searched in their row's match list
        candidates = torch.le(d, threshold.unsqueeze(1), out=self._mask(d.shape))
        # (padding repeats a same-pid index, or fills a row without any, which keeps its values)
        keep = candidates.gather(1, same.gidx) & (self.q_count[r0 : r0 + c, None] == 0)
        candidates.scatter_(1, same.gidx, keep)
        ahead = torch.zeros(c * (self.width + 1), dtype=torch.int64, device=d.device)
        # half the budget for the candidates' flat indices (8 bytes each, at worst every cell), half
        # for searching them; blocks of whole 8-row groups keep the mask's words aligned
        block = max(8, budget // (16 * d.shape[1]) // 8 * 8)
        step = max(1, budget // (2 * CANDIDATE_BYTES))
        for a in range(0, c, block):
            flat = _nonzero(candidates[a : a + block].view(-1))
            if a:
                flat += a * d.shape[1]
            for s in range(0, len(flat), step):
                matches.count_ahead(d, flat[s : s + step], ahead)
        del candidates
        ahead = ahead.view(c, self.width + 1)
        t = torch.arange(self.width, device=d.device)
        pos = t + ahead[:, : self.width].cumsum(1)  # 0-based list position of each match
        is_real = t < num_matches.unsqueeze(1)
        precision = (t + 1).to(torch.float64) / (pos + 1).to(torch.float64)
        m = num_matches.to(torch.float64)
        ap = torch.where(is_real, precision, torch.zeros_like(precision)).sum(1) / m.clamp(min=1)
        last_pos = pos.gather(1, (num_matches - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        inp = m / (last_pos + 1).to(torch.float64)

        zero = torch.zeros_like(ap)
        self.ap_sum += torch.where(valid, ap, zero).sum()
        self.inp_sum += torch.where(valid, inp, zero).sum()
        self.num_valid += valid.sum()
        first = pos[:, 0].clamp(max=self.max_rank)
        self.cmc_hits += torch.bincount(first[valid], minlength=self.max_rank + 1)
        if self.ap is not None:
            nan = torch.full_like(ap, float("nan"))
            self.ap[r0 : r0 + c] = torch.where(valid, ap, nan)
            self.inp[r0 : r0 + c] = torch.where(valid, inp, nan)

    def _mask(self, shape: torch.Size) -> torch.Tensor:
        """A bool buffer of ``shape``, reused across chunks (fresh large allocations cost page faults)."""
        need = shape[0] * shape[1]
        if self._mask_buffer is None or self._mask_buffer.numel() < need:
            self._mask_buffer = torch.empty(need, dtype=torch.bool, device=self.q_pids.device)
        return self._mask_buffer[:need].view(shape)

    def result(self) -> dict:
        """The accumulated scores as Python / numpy values."""
        num_valid = int(self.num_valid)
        hits = self.cmc_hits[: self.max_rank].to(torch.float64).cumsum(0)
        out = {
            "num_valid": num_valid,
            "num_queries": len(self.q_pids),
            "cmc": (hits / max(num_valid, 1)).cpu().numpy(),
            "mAP": float(self.ap_sum) / num_valid if num_valid else float("nan"),
            "mINP": float(self.inp_sum) / num_valid if num_valid else float("nan"),
        }
        if self.ap is not None:
            out["ap"] = self.ap.cpu().numpy()
            out["inp"] = self.inp.cpu().numpy()
        return out



class MatchLists:
    """Each row's true matches in ascending ``(distance, gallery index)`` order, and a search in them.

    Args:
        d: distances ``[c, G]`` of a chunk of queries.
        same: their same-pid gallery entries.
    """

    def __init__(self, d: torch.Tensor, same: SamePid) -> None:
        self.count = same.is_match.sum(1)
        match_d = d.gather(1, same.gidx)
        # gidx is ascending in a row, so stable sorts give (distance, index) order; the second sort
        # moves the non-matches behind the matches even when a match is at distance +inf
        _, perm = match_d.masked_fill(~same.is_match, float("inf")).sort(dim=1, stable=True)
        _, perm2 = (~same.is_match).gather(1, perm).to(torch.uint8).sort(dim=1, stable=True)
        perm = perm.gather(1, perm2)
        self.dist = match_d.gather(1, perm)
        self.index = same.gidx.gather(1, perm)
        self.width = self.dist.shape[1]
        # rows stacked into one ascending int64 sequence: (row << 32) + order-preserving bits of the
        # float32 distance; padding gets the largest key of its row, above any non-NaN value
        rows = torch.arange(len(self.dist), device=d.device).unsqueeze(1) << 32
        pad = torch.arange(self.width, device=d.device) >= self.count.unsqueeze(1)
        largest = torch.full_like(self.dist, 2**31 - 1, dtype=torch.int64)
        self.keys = (rows + torch.where(pad, largest, _ordered_bits(self.dist))).reshape(-1)

    def count_ahead(self, d: torch.Tensor, flat: torch.Tensor, ahead: torch.Tensor) -> None:
        """For the entries ``flat`` (indices into ``d.view(-1)``), add one to ``ahead[row * (width + 1) + k]``,
        where ``k`` is the number of matches of the entry's row that come before the entry."""
        num_cols = d.shape[1]
        rows = torch.div(flat, num_cols, rounding_mode="floor")
        values = d.view(-1).index_select(0, flat)
        keys = _ordered_bits(values)
        keys += rows << 32
        bins = torch.searchsorted(self.keys, keys)  # rows * width + matches surely closer
        # equal keys (rare): equal float32 distances, where a match comes first when its gallery index
        # is smaller, or float64 distances that round alike, which the exact search separates
        tie = (self.keys.index_select(0, bins.clamp(max=len(self.keys) - 1)) == keys).nonzero().squeeze(1)
        if len(tie):
            r = rows[tie]
            cols = flat[tie] - r * num_cols
            found = self._lexicographic(r, values[tie], cols, bins[tie] - r * self.width,
                                        self.count.index_select(0, r))
            bins[tie] = r * self.width + found
        bins += rows
        ahead.scatter_add_(0, bins, torch.ones(1, dtype=ahead.dtype, device=ahead.device).expand(len(bins)))

    def _lexicographic(self, rows: torch.Tensor, values: torch.Tensor, cols: torch.Tensor, lo: torch.Tensor,
                       hi: torch.Tensor) -> torch.Tensor:
        """Binary search of ``(value, col)`` among the ``(distance, index)`` pairs ``lo:hi`` of each row."""
        lo, hi = lo.clone(), hi.clone()
        base = rows * self.width
        flat_d, flat_idx = self.dist.reshape(-1), self.index.reshape(-1)
        for _ in range(self.width.bit_length()):
            mid = (lo + hi) >> 1
            at = base + mid.clamp(max=self.width - 1)
            md, mi = flat_d[at], flat_idx[at]
            ahead = (md < values) | ((md == values) & (mi < cols))
            active = lo < hi
            lo = torch.where(active & ahead, mid + 1, lo)
            hi = torch.where(active & ~ahead, mid, hi)
        return lo


def _nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Indices of the true entries of a 1-D bool tensor, found word by word: candidates are sparse,
    and testing eight flags at once as one int64 is several times cheaper than testing each."""
    n8 = mask.numel() // 8 * 8
    if n8 == 0 or mask.storage_offset() % 8:
        return mask.nonzero().squeeze(1)
    head = mask[:n8]
    words = (head.view(torch.int64) != 0).nonzero().squeeze(1)
    within = head.view(-1, 8).index_select(0, words).nonzero()
    found = words.index_select(0, within[:, 0]) * 8 + within[:, 1]
    if n8 == mask.numel():
        return found
    return torch.cat([found, mask[n8:].nonzero().squeeze(1) + n8])


def _ordered_bits(x: torch.Tensor) -> torch.Tensor:
    """Values rounded to float32, as int64 in [-2**31, 2**31) with the same order (-0.0 equals +0.0).

    Rounding is monotone, so different keys order two values exactly; equal keys need a closer look.
    """
    bits = (x.to(torch.float32) + 0.0).view(torch.int32)
    flip = bits >> 31
    flip &= 0x7FFFFFFF  # negative floats: reverse the order of the magnitude bits
    bits ^= flip
    return bits.to(torch.int64)
