"""CLIP-ReID's image-text losses."""

from __future__ import annotations

import torch


def supervised_contrastive(anchors: torch.Tensor, others: torch.Tensor, anchor_labels: torch.Tensor,
                           other_labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Supervised contrastive loss of each anchor against every other row (CLIP-ReID's stage 1).

    For anchor i, the mean over the rows j with the same label of ``-log softmax_j(a_i . o_j / T)``,
    then the mean over anchors. Features are used as they are (not normalized) and T is 1, as
    CLIP-ReID does; images -> texts and texts -> images are two calls with the roles swapped.
    """
    logits = anchors.float() @ others.float().t() / temperature
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (anchor_labels.unsqueeze(1) == other_labels.unsqueeze(0)).float()
    return -((positives * log_prob).sum(1) / positives.sum(1).clamp_min(1.0)).mean()
