"""Slow, obviously correct references the evaluation engine is tested against.

Each follows its definition literally, one query at a time, in Python floats (float64).
"""

from __future__ import annotations

import math

import numpy as np


def market1501(dist, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Per-query CMC / AP / INP by sorting each row on (distance, gallery index)."""
    dist = np.asarray(dist, dtype=np.float64)
    num_g = dist.shape[1]
    aps, inps, firsts = [], [], []
    per_query_ap = []
    for i in range(dist.shape[0]):
        ranked = sorted(range(num_g), key=lambda j: (dist[i, j], j))
        kept = [j for j in ranked if not (g_pids[j] == q_pids[i] and g_camids[j] == q_camids[i])]
        hits = [pos for pos, j in enumerate(kept) if g_pids[j] == q_pids[i]]
        if not hits:
            per_query_ap.append(math.nan)
            continue
        precisions = [(n + 1) / (pos + 1) for n, pos in enumerate(hits)]
        aps.append(sum(precisions) / len(hits))
        inps.append(len(hits) / (hits[-1] + 1))
        firsts.append(hits[0])
        per_query_ap.append(aps[-1])
    num_valid = len(aps)
    cmc = [sum(1 for f in firsts if f <= k) / max(num_valid, 1) for k in range(max_rank)]
    return {
        "cmc": np.array(cmc),
        "mAP": sum(aps) / num_valid if num_valid else math.nan,
        "mINP": sum(inps) / num_valid if num_valid else math.nan,
        "num_valid": num_valid,
        "ap": np.array(per_query_ap),
    }


def k_reciprocal(q, g, k1, k2, lam):
    """Re-ranking written from the paper's set definitions (with the released code's conventions:
    squared euclidean distance divided by its row maximum, k1 + 1 nearest points, the half-size
    sets of round(k1 / 2) + 1, rows of V scaled to sum to one)."""
    x = np.concatenate([q, g]).astype(np.float64)
    n = len(x)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(2)
    d = d / d.max(1, keepdims=True)
    order = [list(np.argsort(d[p], kind="stable")) for p in range(n)]

    def nearest(p, k):
        return set(order[p][:k])

    def reciprocal(p, k):
        return {x_ for x_ in nearest(p, k + 1) if p in nearest(x_, k + 1)}

    half = round(k1 / 2)
    v = np.zeros((n, n))
    for p in range(n):
        r = reciprocal(p, k1)
        grown = set(r)
        for c in r:
            rc = reciprocal(c, half)
            if len(rc & r) > 2 / 3 * len(rc):
                grown |= rc
        members = sorted(grown)
        weights = np.exp(-d[p, members])
        v[p, members] = weights / weights.sum()
    if k2 > 1:
        v = np.stack([v[order[p][:k2]].mean(0) for p in range(n)])
    nq = len(q)
    out = np.zeros((nq, len(g)))
    for i in range(nq):
        for j in range(len(g)):
            a, b = v[i], v[nq + j]
            jaccard = 1 - np.minimum(a, b).sum() / np.maximum(a, b).sum()
            out[i, j] = (1 - lam) * jaccard + lam * d[i, nq + j]
    return out


def average_query_expansion(q, g, qe_times, qe_k, alpha):
    """fast-reid's aqe, one feature at a time: weighted mean of the qe_k most similar features."""
    x = np.concatenate([q, g]).astype(np.float64)
    for _ in range(qe_times):
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        sims = unit @ unit.T
        new = np.empty_like(x)
        for i in range(len(x)):
            top = np.argsort(-sims[i], kind="stable")[:qe_k]
            new[i] = np.mean(x[top] * (sims[i, top] ** alpha)[:, None], axis=0)
        x = new
    return x[: len(q)], x[len(q):]


def roc_points(dist, q_pids, g_pids, q_camids, g_camids, fprs, convention):
    """Best TPR with FPR <= target, by trying every threshold."""
    same, diff = [], []
    for i in range(dist.shape[0]):
        for j in range(dist.shape[1]):
            if g_pids[j] == q_pids[i] and g_camids[j] == q_camids[i]:
                continue
            (same if g_pids[j] == q_pids[i] else diff).append(float(dist[i, j]))
    same, diff = np.array(same), np.array(diff)
    thresholds = sorted(set(same) | set(diff) | {-math.inf, math.inf})
    out = {}
    for f in fprs:
        best = 0.0
        for t in thresholds:
            if convention == "verification":  # accept d < t
                tpr, fpr = (same < t).mean(), (diff < t).mean()
            else:  # fast-reid: different-identity pairs are the positives, flagged when d > t
                tpr, fpr = (diff > t).mean(), (same > t).mean()
            if fpr <= f:
                best = max(best, tpr)
        out[f] = best
    return out
