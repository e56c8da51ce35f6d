"""Average query expansion (alpha-weighted), as fast-reid defines it.

Each feature, query or gallery alike, is replaced by the mean of its ``qe_k`` most similar features
(itself included, cosine similarity over queries and gallery together), each weighted by its
similarity raised to the power ``alpha``; this is repeated ``qe_times`` times. The new features are
not normalized; the similarities of the next round are taken on their normalized copies.
"""

from __future__ import annotations

from typing import Any

import torch

from ._memory import default_budget, rows_per_chunk
from .distance import common_features, unit_rows


def aqe(q_feats: Any, g_feats: Any, qe_times: int = 1, qe_k: int = 5, alpha: float = 3.0, *,
        memory_budget: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Average query expansion of query and gallery features (fast-reid's ``aqe``).

    Args:
        q_feats: query features ``[Q, D]`` (torch or numpy).
        g_feats: gallery features ``[G, D]``.
        qe_times: rounds of expansion.
        qe_k: neighbours averaged, the feature itself included (fast-reid's ``TEST.AQE.QE_K``, 5).
        alpha: exponent applied to the cosine similarities used as weights.
        memory_budget: bytes of working memory (similarity rows are computed in chunks).

    Returns:
        The expanded ``(q_feats, g_feats)`` on the device of the inputs. Neighbours with equal
        similarity are taken in an unspecified order, as in fast-reid.
    """
    q, g = common_features(q_feats, g_feats)
    qe_k = int(qe_k)
    if qe_k < 1:
        raise ValueError(f"qe_k must be at least 1, got {qe_k}")
    feats = torch.cat([q, g])
    k = min(qe_k, len(feats))
    budget = memory_budget or default_budget(feats.device)
    rows = rows_per_chunk(len(feats), 2 * feats.element_size(), budget)
    for _ in range(int(qe_times)):
        unit = unit_rows(feats)
        expanded = torch.empty_like(feats)
        for r0 in range(0, len(feats), rows):
            sims, idx = torch.mm(unit[r0 : r0 + rows], unit.t()).topk(k, dim=1)
            weights = sims.pow(alpha).unsqueeze(2)
            expanded[r0 : r0 + rows] = (feats[idx] * weights).mean(1)
        feats = expanded
    return feats[: len(q)], feats[len(q) :]
