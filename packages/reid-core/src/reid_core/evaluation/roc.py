"""TPR at fixed FPR over all query-gallery pairs, exactly and in one bounded pass.

Pairs are those the Market-1501 protocol keeps (a gallery entry with the query's pid and camera is
dropped): a *same-identity* pair has the query's pid, a *different-identity* pair another one.

Two conventions:

* ``"verification"`` (default, the usual one): a pair is accepted as the same person when its
  distance is below a threshold; TPR is the fraction of same-identity pairs accepted and FPR the
  fraction of different-identity pairs accepted.
* ``"fastreid"``: fast-reid's labelling, which feeds distances to ``roc_curve`` with the
  *different-identity* pairs as the positive class; its "TPR" is the fraction of different-identity
  pairs rejected and its "FPR" the fraction of same-identity pairs rejected.

In both, the reported value is the highest TPR whose FPR does not exceed the target (fast-reid takes the
curve point nearest to the target instead, which may overshoot it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .ranking import SamePid

DEFAULT_FPRS = (1e-4, 1e-3, 1e-2)
CONVENTIONS = ("verification", "fastreid")


@dataclass
class ROCResult:
    """TPR at each requested FPR."""

    tpr: dict[float, float]
    """target FPR -> TPR (NaN when a class of pairs is empty)."""
    thresholds: dict[float, float]
    """target FPR -> the distance at which the operating point sits (the first excluded distance)."""
    num_same: int
    """same-identity pairs."""
    num_different: int
    """different-identity pairs."""
    convention: str = "verification"
    """``"verification"`` or ``"fastreid"`` (see the module docstring)."""


class RocAccumulator:
    """Collects what the ROC operating points need from chunks of distance rows.

    The large class (different-identity pairs) is never stored: under ``"verification"`` only its
    smallest values that can still matter are kept, under ``"fastreid"`` it is counted against
    thresholds in a second pass (:attr:`needs_second_pass`).
    """

    def __init__(self, q_pids: torch.Tensor, g_pids: torch.Tensor, num_different: int,
                 fprs: tuple[float, ...] = DEFAULT_FPRS, convention: str = "verification") -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"roc convention must be one of {CONVENTIONS}, got {convention!r}")
        for f in fprs:
            if not 0.0 <= f <= 1.0:
                raise ValueError(f"FPR targets must lie in [0, 1], got {f}")
        self.q_pids, self.g_pids = q_pids, g_pids
        self.fprs = tuple(float(f) for f in fprs)
        self.convention = convention
        self.num_different = num_different
        self.same: list[torch.Tensor] = []
        self.keep = min(max(math.floor(f * num_different) for f in self.fprs) + 1, num_different)
        self.smallest: torch.Tensor | None = None
        self.thresholds: dict[float, float] = {}
        self.counts: dict[float, int] = {}

    @property
    def needs_second_pass(self) -> bool:
        """Whether :meth:`count_pass` must see every chunk again after :meth:`update`."""
        return self.convention == "fastreid"

    def update(self, r0: int, d: torch.Tensor, same: SamePid) -> None:
        """First pass over query rows ``r0 : r0 + len(d)``."""
        self.same.append(d.gather(1, same.gidx)[same.is_match])
        if self.convention != "verification" or self.keep == 0:
            return
        different = self.g_pids.unsqueeze(0) != self.q_pids[r0 : r0 + len(d)].unsqueeze(1)
        if self.smallest is not None and len(self.smallest) >= self.keep:
            different &= d <= self.smallest.max()
        pool = d[different] if self.smallest is None else torch.cat([self.smallest, d[different]])
        if len(pool) > self.keep:
            kth = torch.kthvalue(pool, self.keep).values
            pool = pool[pool <= kth]
        self.smallest = pool

    def start_second_pass(self) -> None:
        """Fix the fastreid thresholds from the same-identity distances."""
        same = torch.cat(self.same).sort(descending=True).values if self.same else torch.empty(0)
        for f in self.fprs:
            m = math.floor(f * len(same))
            self.thresholds[f] = float(same[m]) if m < len(same) else -math.inf
            self.counts[f] = 0

    def count_pass(self, r0: int, d: torch.Tensor) -> None:
        """Second pass (fastreid): count different-identity pairs beyond each threshold."""
        different = self.g_pids.unsqueeze(0) != self.q_pids[r0 : r0 + len(d)].unsqueeze(1)
        for f in self.fprs:
            self.counts[f] += int((different & (d > self.thresholds[f])).sum())

    def result(self) -> ROCResult:
        """The operating points."""
        same = torch.cat(self.same) if self.same else torch.empty(0)
        n_same, n_diff = len(same), self.num_different
        tpr: dict[float, float] = {}
        thresholds: dict[float, float] = {}
        if self.convention == "verification":
            smallest = self.smallest.sort().values if self.smallest is not None else torch.empty(0)
            for f in self.fprs:
                m = math.floor(f * n_diff)
                if n_same == 0 or n_diff == 0:
                    tpr[f], thresholds[f] = float("nan"), float("nan")
                elif m >= n_diff:
                    tpr[f], thresholds[f] = 1.0, math.inf
                else:
                    thr = smallest[m]
                    tpr[f] = int((same < thr).sum()) / n_same
                    thresholds[f] = float(thr)
        else:
            for f in self.fprs:
                ok = n_same > 0 and n_diff > 0
                tpr[f] = self.counts.get(f, 0) / n_diff if ok else float("nan")
                thresholds[f] = self.thresholds.get(f, float("nan"))
        return ROCResult(tpr=tpr, thresholds=thresholds, num_same=n_same, num_different=n_diff,
                         convention=self.convention)
