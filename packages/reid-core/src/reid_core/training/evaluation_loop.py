"""Evaluation during training: each rank extracts a share of the test images, rank 0 scores them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..data import ImageDataset, ReIDDataset, eval_transforms
from ..evaluation import evaluate_features
from .guard import ignore_stop_signals

if TYPE_CHECKING:
    from .trainer import Trainer


def _gather(array: np.ndarray, world: int) -> list[np.ndarray]:
    if world == 1:
        return [array]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, array)
    return out


@torch.no_grad()
def evaluate_split(trainer: Trainer, dataset: ReIDDataset) -> dict[str, float]:
    """mAP, mINP and CMC of the trainer's model on ``dataset``'s query/gallery (same on all ranks)."""
    from ..extract import extract_features

    cfg = trainer.cfg
    records = list(dataset.query) + list(dataset.gallery)
    mine = records[trainer.rank :: trainer.world]  # interleaved shares: every rank gets the same load
    model = trainer.net  # the bare model: no DDP wrapper, no compiled graph
    # the training's own loader rules: workers leave a stop signal to the main process
    loader = DataLoader(ImageDataset(mine, eval_transforms(tuple(cfg.INPUT.SIZE))), batch_size=cfg.TEST.BATCH_SIZE,
                        shuffle=False, num_workers=cfg.DATALOADER.NUM_WORKERS, worker_init_fn=ignore_stop_signals,
                        pin_memory=trainer.device.type == "cuda")
    feats = extract_features(model, loader, device=trainer.device, flip=cfg.TEST.FLIP,
                             progress=trainer.progress, desc="evaluate").feats
    shares = _gather(np.asarray(feats.float().cpu()), trainer.world)
    full = np.empty((len(records), shares[0].shape[1]), dtype=np.float32)
    for rank, share in enumerate(shares):
        full[rank :: trainer.world] = share
    nq = len(dataset.query)
    pids = np.array([r.pid for r in records])
    camids = np.array([r.camid for r in records])
    result = evaluate_features(
        full[:nq], full[nq:], pids[:nq], pids[nq:], camids[:nq], camids[nq:],
        metric=cfg.TEST.METRIC, rerank=cfg.TEST.RERANK,
    )
    return {"mAP": float(result.mAP), "mINP": float(result.mINP), "top1": float(result.cmc[0]),
            "top5": float(result.cmc[min(4, len(result.cmc) - 1)])}
