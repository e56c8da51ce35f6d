"""Deployment: run a model through a fast inference backend, with parity against PyTorch checked.

```python
from reid_core.deploy import Embedder
embed = Embedder("osnet_x1_0_dpr", dataset="market1501", backend="openvino")
print(embed.parity.summary())          # cosine to PyTorch, checked when built
feats = embed(frame, boxes)            # a tracker's call: one feature per box
```
"""

from .backends import BACKENDS, PRECISIONS, BackendError, available
from .embedder import COSINE_BOUND, MAP_DROP_BOUND, Embedder, Parity, ParityError, crop_boxes, load_images

__all__ = [
    "BACKENDS",
    "COSINE_BOUND",
    "MAP_DROP_BOUND",
    "PRECISIONS",
    "BackendError",
    "Embedder",
    "Parity",
    "ParityError",
    "available",
    "crop_boxes",
    "load_images",
]
