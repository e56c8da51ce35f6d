"""Galleries larger than memory: a persistent FAISS index with SQLite metadata, and evaluation through it.

```python
from reid_core.index import GalleryIndex, evaluate_index
index = GalleryIndex(feats.shape[1], kind="flat")
index.add(feats.feats, pids=feats.pids, camids=feats.camids, paths=feats.paths)
result = evaluate_index(index, q.feats, q.pids, q.camids)     # exact for kind="flat"
```
"""

from .evaluate import evaluate_index
from .gallery import CARD_KEYS, KINDS, METRICS, GalleryIndex, GalleryIndexError

__all__ = ["CARD_KEYS", "GalleryIndex", "GalleryIndexError", "KINDS", "METRICS", "evaluate_index"]
