"""Training checkpoints: written atomically, kept last-N plus best, restored exactly.

A checkpoint is a dict of tensors and plain values only, so it loads with
``torch.load(weights_only=True)``: model, optimizer, scheduler, scaler, epoch, iteration,
RNG states (Python, NumPy, torch, CUDA) and the config as YAML text.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError


def save_atomic(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it.

    A crash at any point leaves either the previous file or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop draws from, in a ``weights_only``-loadable form."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointManager:
    """Writes ``epoch_NNNN.pth`` files into ``folder``, keeps the last ``keep_last`` and ``best.pth``.

    ``last.pth`` always holds the newest state (epoch end or interruption), so resuming needs
    only the folder.
    """

    PATTERN = re.compile(r"epoch_(\d{4,})\.pth$")

    def __init__(self, folder: str | os.PathLike, keep_last: int = 2) -> None:
        self.folder = Path(folder)
        self.keep_last = keep_last

    @property
    def last(self) -> Path:
        return self.folder / "last.pth"

    @property
    def best(self) -> Path:
        return self.folder / "best.pth"

    def save(self, state: dict[str, Any], *, epoch: int | None = None, is_best: bool = False) -> Path:
        """Write ``state`` as ``last.pth`` (and ``epoch_NNNN.pth``/``best.pth`` when asked)."""
        path = save_atomic(state, self.last)
        if epoch is not None:
            epoch_path = self.folder / f"epoch_{epoch:04d}.pth"
            self._copy_atomic(path, epoch_path)
            self._prune()
        if is_best:
            self._copy_atomic(path, self.best)
        return path

    def _copy_atomic(self, src: Path, dst: Path) -> None:
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=dst.name + ".", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _prune(self) -> None:
        epochs = sorted(p for p in self.folder.iterdir() if self.PATTERN.search(p.name))
        for old in epochs[: max(len(epochs) - self.keep_last, 0)]:
            old.unlink(missing_ok=True)

    def load(self, path: str | os.PathLike | None = None) -> dict[str, Any]:
        """Read a checkpoint (default ``last.pth``) with ``weights_only=True``."""
        path = Path(path) if path is not None else self.last
        if path.is_dir():
            path = path / "last.pth"
        if not path.is_file():
            raise CheckpointError(f"no checkpoint to resume from at {path}")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"cannot read training checkpoint {path}: {e}") from e


def export_weights(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the model weights of a training checkpoint as a plain state dict.

    ``out`` ending in ``.safetensors`` gives a safetensors file, anything else a ``torch.save``
    file; both load with ``reid_core.load(name, weights=out)`` (the classifier is kept: its size
    tells the loader how many identities the model was trained on). Written atomically.
    """
    state = CheckpointManager(Path(checkpoint).parent).load(checkpoint)
    if "model" not in state:
        raise CheckpointError(f"{checkpoint} is not a training checkpoint (no 'model' entry)")
    weights = dict(state["model"])
    out = Path(out)
    if out.suffix != ".safetensors":
        return save_atomic(weights, out)
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        # safetensors refuses tensors that share storage (e.g. AP-Net keeps its trunk under two names)
        save_file({k: v.detach().contiguous().clone() for k, v in weights.items()}, tmp,
                  metadata={"model": str(state.get("model_name", ""))})
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
