"""A tiny synthetic dataset shared by the training tests, and a helper to configure short runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from reid_core.data.synthetic import ensure_dataset

#: identities of the tiny dataset: half of them (8) train
NUM_IDS = 16


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parent folder of a 16-identity synthetic dataset, generated once per session."""
    root = tmp_path_factory.getbasetemp() / "training_datasets"
    ensure_dataset(num_ids=NUM_IDS, root=root)
    return root


def short_run(model: str, root: Path, output: Path, *opts: str, size: tuple[int, int] = (64, 32)):
    """The config of a quick CPU run of ``model`` on the tiny dataset (``opts`` override it)."""
    from reid_core.train import build_config

    base = [
        "MODEL.PRETRAINED", "none",  # random init: no download, and the tests train tiny models
        "DATASET.KWARGS.num_ids", str(NUM_IDS),
        "INPUT.SIZE", f"({size[0]}, {size[1]})",
        "DATALOADER.SAMPLER", "pk", "DATALOADER.P", "4", "DATALOADER.K", "2", "DATALOADER.NUM_WORKERS", "0",
        "SOLVER.WARMUP_ITERS", "0", "SOLVER.WARMUP_EPOCHS", "0", "SOLVER.MAX_EPOCHS", "3", "SOLVER.FREEZE_EPOCHS", "0",
        "TEST.EVAL_PERIOD", "0", "TEST.BATCH_SIZE", "64", "MODEL.DEVICE", "cpu", "LOG_PERIOD", "1",
    ]
    return build_config(model, "synthetic", root, output_dir=output, opts=base + list(opts))
