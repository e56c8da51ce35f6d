"""CLIP-ReID's two training stages, chained: prompt learning, then image-encoder fine-tuning.

```python
from reid_clipreid import train_two_stages
metrics = train_two_stages("vit_b16_clipreid", "market1501", root="~/datasets", output_dir="runs/clipreid")
```

Each stage is one ordinary :class:`reid_core.training.Trainer` run with its recipe (see
``recipes.yaml``): stage 1 writes ``<output_dir>/stage1``, whose last checkpoint stage 2 starts
from (``MODEL.WEIGHTS``) in ``<output_dir>/stage2``. The same as, by hand::

    reid train --dataset market1501 --output runs/s1 vit_b16_clipreid
    reid train --recipe clipreid_vit_stage2 --dataset market1501 --output runs/s2 vit_b16_clipreid \\
        MODEL.WEIGHTS runs/s1/checkpoints/last.pth
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import yaml


def stage_recipes(model: str) -> tuple[str, str]:
    """Names of the stage-1 and stage-2 recipes of ``model`` (``recipes.yaml``, section ``stages``)."""
    data = yaml.safe_load(resources.files(__package__).joinpath("recipes.yaml").read_text(encoding="utf-8"))
    for pattern, stages in (data.get("stages") or {}).items():
        if fnmatch.fnmatchcase(model, pattern):
            first, second = stages
            return first, second
    raise ValueError(f"{model}: recipes.yaml names no training stages for it")


def train_two_stages(
    model: str,
    dataset: str = "synthetic",
    root: str | os.PathLike | None = None,
    *,
    output_dir: str | os.PathLike = "output",
    opts: Sequence[str] = (),
    stage1_opts: Sequence[str] = (),
    stage2_opts: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, float]:
    """Run both CLIP-ReID stages for ``model`` on ``dataset``; returns stage 2's last metrics.

    Args:
        model: a ``*_clipreid`` name.
        dataset, root: the training set, as for ``reid train``.
        output_dir: the two stages write ``stage1/`` and ``stage2/`` under it.
        opts: ``KEY VALUE`` overrides for both stages; ``stage1_opts`` / ``stage2_opts`` for one.
    """
    from reid_core.train import build_config, train

    first, second = stage_recipes(model)
    out = Path(output_dir)
    cfg1 = build_config(model, dataset, root, opts=[*opts, *stage1_opts], output_dir=out / "stage1", recipe=first)
    train(cfg1, progress=progress)
    weights = out / "stage1" / "checkpoints" / "last.pth"
    if not weights.is_file():
        raise FileNotFoundError(f"stage 1 left no checkpoint at {weights}")
    cfg2 = build_config(model, dataset, root, opts=[*opts, "MODEL.WEIGHTS", str(weights), *stage2_opts],
                        output_dir=out / "stage2", recipe=second)
    return train(cfg2, progress=progress)
