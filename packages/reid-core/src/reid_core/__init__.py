"""reid_core: one interface to the person re-identification models of the reid-zoo families.

```python
import reid_core
reid_core.list_models("*_bot")
model = reid_core.load("resnet50_bot", "market1501")   # trained weights, eval mode
feats = model(images)                                  # images: float [B, 3, H, W] in [0, 1]
```
"""

from .catalog import ModelInfo, WeightsInfo
from .checkpoint import LoadReport, load_weights, read_checkpoint
from .errors import (
    CheckpointError,
    ChecksumError,
    DatasetError,
    FamilyNotInstalledError,
    RegistryError,
    ReidError,
    UnknownModelError,
    WeightsError,
)
from .evaluation import EvalResult, evaluate_distmat, evaluate_features
from .deploy import Embedder
from .evaluate import evaluate
from .extract import Features, extract_features, similarity
from .model import MISSING, ModelMeta, ReIDModel
from .pretrained import load, weights_record
from .registry import Family, create_model, list_families, list_models, model_info

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # reid_core.train (a callable module) and build_config load on first use, so that
    # ``python -m reid_core.train`` does not find its module already imported by the package.
    if name in ("train", "build_config"):
        import importlib

        module = importlib.import_module(".train", __name__)
        return module if name == "train" else module.build_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "ChecksumError",
    "DatasetError",
    "Embedder",
    "EvalResult",
    "Features",
    "Family",
    "FamilyNotInstalledError",
    "LoadReport",
    "MISSING",
    "ModelInfo",
    "ModelMeta",
    "ReIDModel",
    "RegistryError",
    "ReidError",
    "UnknownModelError",
    "WeightsError",
    "WeightsInfo",
    "build_config",
    "create_model",
    "evaluate",
    "evaluate_distmat",
    "evaluate_features",
    "extract_features",
    "list_families",
    "list_models",
    "load",
    "load_weights",
    "model_info",
    "read_checkpoint",
    "similarity",
    "train",
    "weights_record",
]
