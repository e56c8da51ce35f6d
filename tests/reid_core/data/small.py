"""The small synthetic dataset the extraction and command tests share (20 identities)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reid_core.data.synthetic import ensure_dataset

NUM_IDS = 20


def small_synthetic_home(factory: pytest.TempPathFactory) -> Path:
    """A ``REID_HOME`` whose ``datasets/`` holds the 20-identity synthetic set, generated once per session."""
    home = factory.getbasetemp() / "reid_home_small"
    ensure_dataset(num_ids=NUM_IDS, root=home / "datasets")
    return home
