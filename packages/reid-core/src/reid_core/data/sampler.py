"""The PK identity sampler: batches of P identities x K images, for triplet-style losses."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch.distributed as dist
from torch.utils.data import Sampler


class PKSampler(Sampler[int]):
    """Yield dataset indices in blocks of ``p * k``: ``p`` distinct identities, ``k`` images each.

    Use it with ``DataLoader(dataset, batch_size=sampler.batch_size, sampler=sampler)``.

    Each epoch every identity is cut into chunks of ``k`` of its images (the last chunk, and
    identities with fewer than ``k`` images, are completed by drawing again from the identity's
    images). Under DDP the identities are split into disjoint shares, one per rank, so no two
    ranks see the same person in an epoch; every rank yields the same number of batches, enough
    for every identity of its share to appear at least once and for the ranks together to go
    through about one chunk per ``k`` images. Call :meth:`set_epoch` before each epoch, as with
    ``DistributedSampler``: the shuffling depends on ``seed`` and the epoch only, so all ranks
    agree on the shares without talking to each other.

    Args:
        pids: the pid of every dataset item (``ImageDataset.pids``).
        p: identities per batch (per rank).
        k: images per identity.
        num_replicas: number of ranks; default: the process group's size, or 1.
        rank: this process's rank; default: the process group's rank, or 0.
        seed: base of the shuffling.
    """

    def __init__(
        self,
        pids: Sequence[int],
        p: int = 16,
        k: int = 4,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
    ) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"PKSampler: p and k must be positive, got p={p}, k={k}")
        distributed = dist.is_available() and dist.is_initialized()
        self.num_replicas = num_replicas if num_replicas is not None else (dist.get_world_size() if distributed else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if distributed else 0)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"PKSampler: rank {self.rank} is outside 0..{self.num_replicas - 1}")
        self.p, self.k, self.seed, self.epoch = p, k, seed, 0
        groups: dict[int, list[int]] = defaultdict(list)
        for index, pid in enumerate(pids):
            groups[int(pid)].append(index)
        self._groups = dict(sorted(groups.items()))
        needed = p * self.num_replicas
        if len(self._groups) < needed:
            raise ValueError(
                f"PKSampler: {len(self._groups)} identities cannot fill batches of p={p} distinct identities "
                f"on {self.num_replicas} rank(s); need at least {needed}"
            )
        chunks = sum(math.ceil(len(ix) / k) for ix in self._groups.values())
        largest_share = math.ceil(len(self._groups) / self.num_replicas)
        self.num_batches = max(math.ceil(chunks / needed), math.ceil(largest_share / p))

    @property
    def batch_size(self) -> int:
        """``p * k``: the DataLoader batch size that keeps the blocks aligned."""
        return self.p * self.k

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (the same value on every rank)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches * self.p * self.k

    def shares(self) -> list[list[int]]:
        """The identities of each rank this epoch (disjoint)."""
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        ids = list(self._groups)
        rng.shuffle(ids)
        return [ids[r :: self.num_replicas] for r in range(self.num_replicas)]

    def batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch, as lists of ``p * k`` indices."""
        share = self.shares()[self.rank]
        rng = random.Random((self.seed * 1_000_003 + self.epoch) * 97 + self.rank + 1)
        pending = {pid: self._chunks(self._groups[pid], rng) for pid in share}
        unseen = list(share)
        rng.shuffle(unseen)
        out = []
        for _ in range(self.num_batches):
            chosen = unseen[: self.p]
            del unseen[: self.p]
            if len(chosen) < self.p:
                more = [pid for pid in share if pending[pid] and pid not in chosen]
                rng.shuffle(more)
                chosen += more[: self.p - len(chosen)]
            if len(chosen) < self.p:
                rest = [pid for pid in share if pid not in chosen]
                chosen += rng.sample(rest, self.p - len(chosen))
            batch = []
            for pid in chosen:
                batch += pending[pid].pop(0) if pending[pid] else self._chunks(self._groups[pid], rng)[0]
            out.append(batch)
        return out

    def _chunks(self, indices: list[int], rng: random.Random) -> list[list[int]]:
        order = list(indices)
        rng.shuffle(order)
        chunks = [order[i : i + self.k] for i in range(0, len(order), self.k)]
        last = chunks[-1]
        need = self.k - len(last)
        if need > 0:
            # complete with the identity's other images first; repeat images only when it has fewer than k
            others = [i for i in indices if i not in last]
            if len(others) >= need:
                last += rng.sample(others, need)
            else:
                last += others + rng.choices(indices, k=need - len(others))
        return chunks

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches():
            yield from batch
