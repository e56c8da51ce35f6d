"""Who matches whom: the top-k gallery entries of a query, under the evaluation protocol."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.base import Record, ReIDDataset
from ..extract import Features, extract_features


@dataclasses.dataclass
class RankList:
    """One query and its best gallery matches, most similar first."""

    query: Record  #: the query image
    matches: list[Record]  #: the top-k gallery records
    gallery_index: list[int]  #: their positions in the gallery
    sims: list[float]  #: cosine similarity of each match to the query
    correct: list[bool]  #: whether each match shows the query's identity
    num_valid: int  #: gallery entries that were eligible at all (the rest were removed)


def rank_gallery(query: Features, gallery: Features, topk: int = 10, *, remove_same_camera: bool = True) -> list[RankList]:
    """Rank the gallery for every query by cosine similarity of the features.

    With ``remove_same_camera`` (the default, as in the evaluation), gallery entries that show
    the query's identity **in the query's camera** are left out, so that the list shows what
    the metrics score. A query then sees at most ``topk`` matches, fewer when the gallery has
    fewer eligible entries.
    """
    if topk < 1:
        raise ValueError(f"rank_gallery: topk must be at least 1, got {topk}")
    q = F.normalize(query.feats.float(), dim=1)
    g = F.normalize(gallery.feats.float(), dim=1)
    sims = q @ g.T
    if remove_same_camera:
        same = (query.pids[:, None] == gallery.pids[None, :]) & (query.camids[:, None] == gallery.camids[None, :])
        sims = sims.masked_fill(same, float("-inf"))
    valid = torch.isfinite(sims).sum(1)
    k = min(topk, sims.shape[1])
    top_sims, top_idx = sims.topk(k, dim=1)
    out = []
    for i in range(len(query)):
        n = int(min(k, valid[i]))
        idx = top_idx[i, :n].tolist()
        qrec = Record(query.paths[i], int(query.pids[i]), int(query.camids[i]))
        matches = [Record(gallery.paths[j], int(gallery.pids[j]), int(gallery.camids[j])) for j in idx]
        out.append(
            RankList(
                query=qrec,
                matches=matches,
                gallery_index=idx,
                sims=[float(s) for s in top_sims[i, :n]],
                correct=[m.pid == qrec.pid for m in matches],
                num_valid=int(valid[i]),
            )
        )
    return out


def pick_queries(records: Sequence[Record], n: int, *, seed: int | None = None) -> list[Record]:
    """``n`` query records spread evenly over the list (or drawn at random with ``seed``).

    Query lists are sorted by identity, so evenly spaced picks show many identities.
    """
    if n <= 0 or n >= len(records):
        return list(records)
    if seed is None:
        idx = np.linspace(0, len(records) - 1, n).round().astype(int)
    else:
        idx = np.sort(np.random.default_rng(seed).choice(len(records), n, replace=False))
    return [records[i] for i in idx]


def match_queries(
    model: torch.nn.Module,
    dataset: ReIDDataset,
    *,
    queries: int | Sequence[Record] = 20,
    topk: int = 10,
    query_seed: int | None = None,
    remove_same_camera: bool = True,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
) -> list[RankList]:
    """Extract features of some queries and of the whole gallery of ``dataset``, and rank.

    Args:
        model: a reid-zoo model.
        dataset: gives ``query`` and ``gallery`` records.
        queries: how many queries (see :func:`pick_queries`), or the query records themselves.
        topk: matches per query.
        query_seed: draw the queries at random with this seed instead of evenly spaced.
        remove_same_camera: drop same-identity, same-camera gallery entries (the protocol).
        device: where to run the model (default: where it is).
        batch_size: images per forward pass.
        num_workers: DataLoader workers decoding images.
        progress: show progress bars.
    """
    chosen = pick_queries(dataset.query, queries, seed=query_seed) if isinstance(queries, int) else list(queries)
    common = dict(device=device, batch_size=batch_size, num_workers=num_workers, progress=progress)
    q = extract_features(model, chosen, desc="query", **common)
    g = extract_features(model, dataset.gallery, desc="gallery", **common)
    return rank_gallery(q, g, topk, remove_same_camera=remove_same_camera)
