"""PKSampler invariants: P x K batches, coverage of identities, disjoint shares across ranks."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from reid_core.data import PKSampler
from torch.utils.data import DataLoader, TensorDataset

# 13 identities with 1 to 9 images each: some have fewer images than K
PIDS = [pid for pid in range(13) for _ in range(1 + (pid * 5) % 9)]


def check_batch(batch: list[int], p: int, k: int) -> None:
    pids = [PIDS[i] for i in batch]
    counts = Counter(pids)
    assert len(batch) == p * k
    assert len(counts) == p, f"expected {p} distinct identities, got {counts}"
    assert set(counts.values()) == {k}
    # the K images of an identity are distinct whenever the identity has K images
    for pid in counts:
        mine = [i for i in batch if PIDS[i] == pid]
        assert len(set(mine)) == min(k, PIDS.count(pid))


@pytest.mark.parametrize(("p", "k"), [(4, 4), (3, 2), (13, 1)])
def test_batches_are_p_identities_times_k(p: int, k: int) -> None:
    sampler = PKSampler(PIDS, p=p, k=k, seed=1)
    flat = list(sampler)
    assert len(flat) == len(sampler) == sampler.num_batches * p * k
    for b in range(sampler.num_batches):
        check_batch(flat[b * p * k : (b + 1) * p * k], p, k)


def test_every_identity_is_covered_each_epoch() -> None:
    sampler = PKSampler(PIDS, p=4, k=2, seed=3)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        assert {PIDS[i] for i in sampler} == set(PIDS)


def test_about_one_chunk_per_k_images() -> None:
    # 65 images in chunks of 4 -> 21 chunks (ceil per identity); 4 identities per batch -> 6 batches
    sampler = PKSampler(PIDS, p=4, k=4)
    assert sum(-(-PIDS.count(p) // 4) for p in set(PIDS)) == 21
    assert sampler.num_batches == 6


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_get_disjoint_shares_and_equal_lengths(world: int) -> None:
    p, k = 2, 3
    samplers = [PKSampler(PIDS, p=p, k=k, num_replicas=world, rank=r, seed=5) for r in range(world)]
    for epoch in (0, 1):
        seen = []
        for s in samplers:
            s.set_epoch(epoch)
            flat = list(s)
            for b in range(0, len(flat), p * k):
                check_batch(flat[b : b + p * k], p, k)
            seen.append({PIDS[i] for i in flat})
        assert len({len(s) for s in samplers}) == 1
        for a in range(world):
            for b in range(a + 1, world):
                assert seen[a].isdisjoint(seen[b]), f"ranks {a} and {b} share identities"
        assert set().union(*seen) == set(PIDS)


def test_shuffling_depends_on_seed_and_epoch_only() -> None:
    a, b = PKSampler(PIDS, p=4, k=2, seed=7), PKSampler(PIDS, p=4, k=2, seed=7)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    assert list(PKSampler(PIDS, p=4, k=2, seed=8)) != first


def test_too_few_identities() -> None:
    with pytest.raises(ValueError, match="need at least 14"):
        PKSampler(PIDS, p=7, k=2, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="rank 2"):
        PKSampler(PIDS, p=2, k=2, num_replicas=2, rank=2)


def test_feeds_a_dataloader() -> None:
    data = TensorDataset(torch.tensor(PIDS))
    sampler = PKSampler(PIDS, p=4, k=4)
    loader = DataLoader(data, batch_size=sampler.batch_size, sampler=sampler)
    batches = [b[0] for b in loader]
    assert len(batches) == sampler.num_batches
    assert all(len(torch.unique(b)) == 4 and len(b) == 16 for b in batches)
