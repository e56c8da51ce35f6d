"""What a training run writes as it goes: ``log.jsonl``, TensorBoard scalars and parameter checksums."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn


class RunLog:
    """The records of one run in ``folder``: only the main rank writes the log and TensorBoard,
    every rank its own checksums.

    Args:
        folder: the run's ``OUTPUT_DIR``.
        is_main: whether this process is rank 0.
        rank: this process's rank (names its checksum file).
        tensorboard: also write TensorBoard scalars (``folder/tensorboard``).
    """

    def __init__(self, folder: str | Path, *, is_main: bool, rank: int = 0, tensorboard: bool = False) -> None:
        self.folder = Path(folder)
        self.is_main = is_main
        self.rank = rank
        self._writer: Any = None
        if tensorboard and is_main:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.folder / "tensorboard"))

    def write(self, record: dict[str, Any], iteration: int) -> None:
        """Append ``record`` (a step or an epoch summary) to ``log.jsonl``, and its numbers to TensorBoard."""
        if not self.is_main:
            return
        path = self.folder / "log.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if isinstance(value, float):
                    self._writer.add_scalar(f"train/{key}", value, iteration)
            for key, value in record.get("eval", {}).items():
                self._writer.add_scalar(f"eval/{key}", value, iteration)

    def checksum(self, net: nn.Module, iteration: int) -> None:
        """Append this rank's parameter checksum (float64 sum and sum of squares) for the step."""
        with torch.no_grad():
            flat = torch.cat([p.detach().double().flatten().cpu() for p in net.parameters()])
        path = self.folder / "checksums" / f"rank{self.rank}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps({"iteration": iteration, "sum": float(flat.sum()),
                                "sumsq": float(flat.pow(2).sum())}) + "\n")

    def close(self) -> None:
        """Flush and close TensorBoard's writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
