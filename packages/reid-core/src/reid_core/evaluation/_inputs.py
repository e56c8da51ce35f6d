"""Turning user inputs (torch tensors, numpy arrays, lists) into checked tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import EvaluationError


def as_tensor(x: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    """``x`` as a tensor (numpy arrays are wrapped without a copy), moved to ``device`` if given."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(x if x.flags.writeable else x.copy())
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as e:
            raise EvaluationError(f"{name} cannot be read as an array: {e}") from None
    return t if device is None else t.to(device)


def as_features(x: Any, name: str) -> torch.Tensor:
    """A finite float feature matrix ``[N, D]``; half precision is promoted to float32."""
    t = as_tensor(x, name)
    if t.ndim != 2:
        raise EvaluationError(f"{name} must be a 2-D array [N, D], got shape {tuple(t.shape)}")
    if not t.is_floating_point() or t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    # a finite sum is the cheap proof that every value is finite; only otherwise look closer
    if t.numel() and not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise EvaluationError(f"{name} contains NaN or infinite values")
    return t


def as_labels(x: Any, name: str, n: int, n_name: str, device: torch.device) -> torch.Tensor:
    """Integer labels (pids or camids) ``[n]`` as int64 on ``device``."""
    if x is None:
        hint = ("the protocol drops gallery entries with the query's pid and camera; to keep every "
                "entry, e.g. when the cameras are unknown, pass q_camids=numpy.zeros(Q) and "
                "g_camids=numpy.ones(G)") if "camid" in name else "one integer identity per image"
        raise EvaluationError(f"{name} is None: pass {n} integer labels, one per row of {n_name} ({hint})")
    t = as_tensor(x, name)
    if t.ndim != 1:
        t = t.reshape(-1) if t.numel() == n else t
    if t.ndim != 1 or t.numel() != n:
        raise EvaluationError(f"{name} has {t.numel()} entries but {n_name} has {n}")
    if t.is_floating_point():
        if not bool((t == t.round()).all()):
            raise EvaluationError(f"{name} must hold integers")
    elif t.dtype == torch.bool or t.is_complex():
        raise EvaluationError(f"{name} must hold integers, got {t.dtype}")
    return t.to(device=device, dtype=torch.int64)


def check_metric(metric: str) -> str:
    """The metric name, validated."""
    if metric not in ("cosine", "euclidean"):
        raise EvaluationError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    return metric


def check_sizes(num_query: int, num_gallery: int, query_name: str, gallery_name: str) -> None:
    """Refuse empty query or gallery sets."""
    if num_query == 0:
        raise EvaluationError(f"{query_name} is empty: there is nothing to evaluate")
    if num_gallery == 0:
        raise EvaluationError(f"{gallery_name} is empty: the gallery needs at least one image")
