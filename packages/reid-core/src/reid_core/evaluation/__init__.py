"""Evaluation: exact Market-1501-protocol CMC / mAP / mINP, re-ranking, query expansion and ROC.

```python
from reid_core.evaluation import evaluate_features
result = evaluate_features(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids)
print(result.summary())          # mAP, mINP, Rank-1/5/10 and the number of valid queries
```

Everything runs on the device of the inputs (CPU or CUDA), chunked over queries so that working
memory stays within a budget, with no Python loop over queries.
"""

from .distance import compute_distance
from .errors import EvaluationError
from .evaluate import evaluate_distmat, evaluate_features, roc_at_fpr
from .query_expansion import aqe
from .reranking import reranking
from .result import EvalResult
from .roc import ROCResult

__all__ = [
    "EvalResult",
    "EvaluationError",
    "ROCResult",
    "aqe",
    "compute_distance",
    "evaluate_distmat",
    "evaluate_features",
    "reranking",
    "roc_at_fpr",
]
