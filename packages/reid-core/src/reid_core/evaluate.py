"""``evaluate``: a model on a dataset's query and gallery, scored under the Market-1501 protocol."""

from __future__ import annotations

import os
import sys
import time
import types
from typing import Any

import torch
from torch import nn

from .data import ReIDDataset, build_dataset
from .evaluation import EvalResult, evaluate_features
from .extract import extract_features


def evaluate(
    model: nn.Module | str,
    dataset: ReIDDataset | str,
    root: str | os.PathLike | None = None,
    *,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    flip: bool | None = None,
    input_size: tuple[int, int] | None = None,
    num_workers: int | None = None,
    rerank: bool = False,
    metric: str = "cosine",
    progress: bool = True,
    backend: str = "auto",
    dataset_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> EvalResult:
    """Extract query and gallery features of ``dataset`` with ``model`` and score them.

    Args:
        model: a model, or a zoo name (then its catalogued weights for ``dataset`` are loaded).
        dataset: a :class:`~reid_core.data.ReIDDataset` or a name for
            :func:`~reid_core.data.build_dataset` (``"market1501"``, ``"synthetic"``, ...).
        root: the dataset folder or its parent, when ``dataset`` is a name.
        batch_size, device, amp, num_workers: see :func:`~reid_core.extract_features`.
        flip: test-time flip; default the model's ``meta.test_flip`` (its weights' own setting).
        input_size: (H, W) to run at; default the size the model's weights were trained at
            (a different one is warned about).
        rerank: k-reciprocal re-ranking.
        metric: ``"cosine"`` or ``"euclidean"``.
        progress: progress bars while extracting.
        backend: what runs the model (see :func:`~reid_core.extract_features`); the query
            runs on the backend the gallery ran on, so that both sides are alike.
        dataset_kwargs: reader options when ``dataset`` is a name (e.g. ``{"version": "V1"}``).
        **kwargs: further options of :func:`reid_core.evaluation.evaluate_features` (``aqe``,
            ``max_rank``, ``rerank_k1``, ...).

    Returns:
        The :class:`~reid_core.evaluation.EvalResult`; ``extra`` holds the extraction and
        scoring times in seconds.
    """
    if isinstance(dataset, str):
        dataset = build_dataset(dataset, root, **(dataset_kwargs or {}))
    if isinstance(model, str):
        from .pretrained import load

        model = load(model, dataset.name, device=device, input_size=input_size, flip=flip)
        input_size = flip = None  # now the model's own
    common = {"batch_size": batch_size, "device": device, "amp": amp, "flip": flip, "input_size": input_size,
              "num_workers": num_workers, "progress": progress}
    t0 = time.perf_counter()
    g = extract_features(model, dataset.gallery, desc="gallery", backend=backend, **common)
    q = extract_features(model, dataset.query, desc="query", backend=g.backend, **common)
    t1 = time.perf_counter()
    # score where the model ran: the evaluation is much faster on a GPU
    where = torch.device(device) if device is not None else next(iter(model.parameters()), torch.empty(0)).device
    qf, gf = q.feats.to(where), g.feats.to(where)
    result = evaluate_features(qf, gf, q.pids, g.pids, q.camids, g.camids, metric=metric, rerank=rerank, **kwargs)
    result.extra.update({"extract_s": t1 - t0, "score_s": time.perf_counter() - t1, "backend": g.backend})
    return result


class _CallableModule(types.ModuleType):
    # ``import reid_core.evaluate`` binds this module as ``reid_core.evaluate``, where users call
    # the function: the module answers the call.
    def __call__(self, *args: Any, **kwargs: Any) -> EvalResult:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
