"""Feature extraction split into shards: across ``torchrun`` ranks, resumable after a crash.

The images are cut into fixed shards (``shard_size`` images each, in the order given). Rank ``r`` of
``W`` extracts shards ``r, r + W, r + 2W, ...``; each shard is written under a temporary name and
renamed, so a shard file on disk is always whole. A restarted job (same images, same model) skips
the shards that exist. When every rank is done, rank 0 merges the shards in order.

```bash
torchrun --nproc-per-node 4 -m reid_core extract osnet_x1_0_dpr --dataset market1501 \\
    --images /data/gallery --out gallery.npz
```
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .data.base import Record
from .errors import DatasetError, ReidError
from .extract import Features, extract_features

MANIFEST = "manifest.json"


@dataclasses.dataclass(frozen=True)
class Ranks:
    """Where this process stands in a ``torchrun`` job (``rank 0 of 1`` when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
        """Read torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_ranks(device: torch.device) -> Ranks:
    """Join the torchrun job's process group (gloo on CPU, NCCL on CUDA) when there is one."""
    ranks = Ranks.from_env()
    if ranks.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # extraction of a large shard can take long: the default 30 min barrier timeout is too short
        dist.init_process_group(backend=backend, timeout=timedelta(hours=12))
    return ranks


def device_for(requested: torch.device, ranks: Ranks) -> torch.device:
    """On CUDA, each rank takes the GPU of its local rank."""
    if requested.type == "cuda" and ranks.distributed and requested.index is None:
        return torch.device("cuda", ranks.local_rank)
    return requested


def shard_paths(shard_dir: Path, count: int) -> list[Path]:
    """The file of every shard, in order."""
    return [shard_dir / f"shard-{i:06d}.npz" for i in range(count)]


def _fingerprint(records: Sequence[Record], shard_size: int, card: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"shard_size": shard_size, "card": card}, sort_keys=True, default=str).encode())
    for r in records:
        h.update(f"{r.path}\0{r.pid}\0{r.camid}\n".encode())
    return h.hexdigest()


def _write_manifest(shard_dir: Path, manifest: dict[str, Any]) -> None:
    path = shard_dir / MANIFEST
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("fingerprint") != manifest["fingerprint"]:
            raise ReidError(
                f"{shard_dir} holds shards of another extraction (other images, shard size or model); "
                "delete the folder or choose another --shard-dir"
            )
        return
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)


def extract_shards(model: nn.Module, records: Sequence[Record], shard_dir: str | os.PathLike, *,
                   shard_size: int = 4096, ranks: Ranks | None = None, model_card: Mapping[str, Any] | None = None,
                   **extract_kwargs: Any) -> list[Path]:
    """Extract this rank's shards of ``records`` into ``shard_dir``, skipping those already there.

    Args:
        model: the model, already on this rank's device.
        records: every image of the job, in the same order on every rank.
        shard_dir: where shard files (and a manifest naming the job) live.
        shard_size: images per shard: the work lost when a rank dies.
        ranks: this process's rank and the world size (default: from torchrun's environment).
        model_card: what identifies the features (model, weights, input size): a folder of shards
            from another model or image list is refused rather than mixed in.
        **extract_kwargs: passed to :func:`reid_core.extract_features`.

    Returns:
        The paths of all shards, in order (when distributed, after every rank has finished).
    """
    ranks = ranks or Ranks.from_env()
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    if not records:
        raise DatasetError("extract_shards: no images to extract")
    folder = Path(shard_dir)
    folder.mkdir(parents=True, exist_ok=True)
    count = -(-len(records) // shard_size)
    manifest = {
        "fingerprint": _fingerprint(records, shard_size, model_card or {}),
        "images": len(records),
        "shard_size": shard_size,
        "shards": count,
        "model_card": dict(model_card or {}),
    }
    if ranks.rank == 0:
        _write_manifest(folder, manifest)
    _barrier(ranks)
    if ranks.rank != 0:
        _write_manifest(folder, manifest)  # checks what rank 0 wrote
    paths = shard_paths(folder, count)
    for i in range(ranks.rank, count, ranks.world):
        if paths[i].is_file():
            continue
        part = records[i * shard_size : (i + 1) * shard_size]
        feats = extract_features(model, part, desc=f"shard {i + 1}/{count}", **extract_kwargs)
        feats.save(paths[i])
    _barrier(ranks)
    return paths


def iter_shards(paths: Sequence[Path]) -> Iterator[Features]:
    """Read shards in order, checking that each is there and whole."""
    for p in paths:
        if not p.is_file():
            raise DatasetError(f"shard {p} is missing: run the extraction again to fill it in")
        try:
            yield Features.load(p)
        except (OSError, ValueError, KeyError) as e:
            raise DatasetError(f"shard {p} cannot be read ({e}); delete it and run the extraction again") from e


def merge_shards(paths: Sequence[Path]) -> Features:
    """One :class:`Features` of all shards, in order."""
    parts = list(iter_shards(paths))
    return Features(
        torch.cat([p.feats for p in parts]),
        torch.cat([p.pids for p in parts]),
        torch.cat([p.camids for p in parts]),
        [path for p in parts for path in p.paths],
    )


def _barrier(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        dist.barrier()


def finish(ranks: Ranks) -> None:
    """Leave the process group, if this process joined one."""
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()
