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
from .model import MISSING, ModelMeta, ReIDModel
from .pretrained import load, weights_record
from .registry import Family, create_model, list_families, list_models, model_info

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ChecksumError",
    "DatasetError",
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
    "create_model",
    "list_families",
    "list_models",
    "load",
    "load_weights",
    "model_info",
    "read_checkpoint",
    "weights_record",
]
