"""The result of an evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class EvalResult:
    """Scores of one evaluation under the Market-1501 protocol.

    All fractions are in [0, 1] (multiply by 100 for the percentages papers print).
    """

    cmc: np.ndarray
    """float64 ``[min(max_rank, gallery size)]``: ``cmc[k]`` is the fraction of valid queries with a true match in the top ``k + 1``."""
    mAP: float
    """Mean over valid queries of the average precision."""
    mINP: float
    """Mean over valid queries of the inverse negative penalty (matches / rank of the last match)."""
    num_valid: int
    """Queries with at least one true match left after the same-camera filter."""
    num_queries: int
    """All queries, valid or not."""
    ap: np.ndarray | None = None
    """float64 ``[num_queries]`` per-query AP (NaN for queries without a match), when asked for."""
    inp: np.ndarray | None = None
    """float64 ``[num_queries]`` per-query INP (NaN for queries without a match), when asked for."""
    roc: dict[float, float] | None = None
    """TPR at each requested FPR, when asked for."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else worth reporting, e.g. timings (seconds) or the backend that ran the model."""
    max_rank: int | None = None
    """The CMC length asked for (``cmc`` stops earlier when the gallery is smaller); default ``len(cmc)``."""

    def rank(self, k: int) -> float:
        """CMC at rank ``k`` (1-based): the fraction of valid queries with a match in the top ``k``.

        Ranks past the gallery size (up to ``max_rank``) are the last value: every list has ended.
        """
        top = max(self.max_rank or 0, len(self.cmc))
        if not 1 <= k <= top:
            raise ValueError(f"rank k={k} is outside 1..max_rank={top}")
        return float(self.cmc[min(k, len(self.cmc)) - 1])

    def as_dict(self) -> dict[str, float]:
        """Flat scores: ``mAP``, ``mINP``, ``Rank-1/5/10`` (those within max_rank), counts and ROC."""
        out: dict[str, float] = {"mAP": self.mAP, "mINP": self.mINP}
        for k in (1, 5, 10):
            if k <= max(self.max_rank or 0, len(self.cmc)):
                out[f"Rank-{k}"] = self.rank(k)
        out["num_valid"] = self.num_valid
        out["num_queries"] = self.num_queries
        for fpr, tpr in (self.roc or {}).items():
            out[f"TPR@FPR={fpr:.0e}"] = tpr
        out.update(self.extra)
        return out

    def summary(self) -> str:
        """One line per score, in percent, ready to print."""
        lines = []
        for key, value in self.as_dict().items():
            if key in ("num_valid", "num_queries") or key in self.extra:
                continue
            lines.append(f"{key:14s} {100 * value:6.2f}")
        lines.append(f"{'queries':14s} {self.num_valid} valid of {self.num_queries}")
        return "\n".join(lines)
