"""How many rows of a ``[rows, cols]`` working set fit in the memory budget."""

from __future__ import annotations

import torch

#: default working-memory budget on CPU, in bytes
CPU_BUDGET = 256 * 2**20
#: on CUDA, the default budget is this fraction of the memory free on the device
CUDA_FRACTION = 0.25


def default_budget(device: torch.device) -> int:
    """Working-memory budget in bytes for ``device`` when the caller gives none."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # memory our caching allocator holds but does not use is free for us too
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return max(int(CUDA_FRACTION * (free + cached)), 64 * 2**20)
    return CPU_BUDGET


def rows_per_chunk(cols: int, bytes_per_cell: float, budget: int, chunk_size: int | None = None) -> int:
    """Rows per chunk: ``chunk_size`` if given, else as many as the budget allows (at least one)."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        return int(chunk_size)
    return max(1, int(budget // max(1.0, cols * bytes_per_cell)))


def groups_within(costs: torch.Tensor, cap: int) -> list[tuple[int, int]]:
    """Split consecutive items into ``(start, end)`` groups whose summed cost stays within ``cap``.

    An item that alone exceeds ``cap`` gets a group of its own.
    """
    total = int(costs.sum())
    if total <= cap:
        return [(0, len(costs))]
    ends = torch.cumsum(costs.cpu(), 0)
    groups, a, base = [], 0, 0
    while a < len(costs):
        b = int(torch.searchsorted(ends, torch.tensor(base + cap, dtype=ends.dtype), right=True))
        b = max(b, a + 1)
        groups.append((a, b))
        base = int(ends[b - 1])
        a = b
    return groups
