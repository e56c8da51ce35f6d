"""reid_core: one interface to the person re-identification models of the reid-zoo families.

```python
import reid_core
reid_core.list_models("*_bot")
model = reid_core.load("resnet50_bot", "market1501")   # trained weights, eval mode
feats = model(images)                                  # images: float [B, 3, H, W] in [0, 1]
```
"""

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # the same names, for type checkers and the API docs; at run time they load on first use
    from .catalog import ModelInfo, WeightsInfo
    from .checkpoint import LoadReport, load_weights, read_checkpoint
    from .deploy import Embedder
    from .evaluate import evaluate
    from .evaluation import EvalResult, evaluate_distmat, evaluate_features
    from .extract import Features, extract_features, similarity
    from .model import MISSING, ModelMeta, ReIDModel
    from .pretrained import load, set_input, weights_record
    from .registry import Family, create_model, list_families, list_models, model_info

__version__ = "0.1.0"

#: public name -> the submodule that defines it. Importing torch takes seconds, so the package
#: imports nothing heavy until a name is used: ``reid --help`` answers at once.
_LAZY = {
    "ModelInfo": "catalog", "WeightsInfo": "catalog",
    "LoadReport": "checkpoint", "load_weights": "checkpoint", "read_checkpoint": "checkpoint",
    "Embedder": "deploy",
    "evaluate": "evaluate",
    "EvalResult": "evaluation", "evaluate_distmat": "evaluation", "evaluate_features": "evaluation",
    "Features": "extract", "extract_features": "extract", "similarity": "extract",
    "MISSING": "model", "ModelMeta": "model", "ReIDModel": "model",
    "load": "pretrained", "set_input": "pretrained", "weights_record": "pretrained",
    "Family": "registry", "create_model": "registry", "list_families": "registry", "list_models": "registry",
    "model_info": "registry",
}


def __getattr__(name: str) -> object:
    import importlib

    # reid_core.train (a callable module) and build_config load on first use, so that
    # ``python -m reid_core.train`` does not find its module already imported by the package.
    if name in ("train", "build_config"):
        module = importlib.import_module(".train", __name__)
        return module if name == "train" else module.build_config
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        if name != "evaluate":  # importing reid_core.evaluate binds the (callable) module there
            globals()[name] = value
        return value
    if not name.startswith("__"):  # a submodule (reid_core.data, reid_core.hub, ...), as the eager package had them
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"train", "build_config"})


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
    "set_input",
    "model_info",
    "read_checkpoint",
    "similarity",
    "train",
    "weights_record",
]
