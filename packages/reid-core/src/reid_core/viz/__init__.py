"""Looking at what a model does: rank lists, Grad-CAM overlays and t-SNE maps.

```python
from reid_core.data import build_dataset
from reid_core.viz import render_rank_lists, render_gradcam, render_tsne

ds = build_dataset("synthetic")
render_rank_lists(model, ds, "out/rank", queries=8, topk=10)   # one PNG per group of queries
render_gradcam(model, ds, "out/gradcam", queries=2, topk=5)    # one PNG per query
render_tsne(model, ds, "out/tsne.png", thumbnails=True)
```

These need reid-core's ``viz`` extra (matplotlib, scikit-learn, grad-cam):
``pip install "reid-core[viz]"``. Figures are drawn with matplotlib's Agg canvas, never through
``pyplot``, so nothing here opens a window or touches global figure state.
"""

from .gradcam import (
    SimilarityTarget,
    cam_target,
    gradcam_figure,
    render_gradcam,
    similarity_cams,
)
from .figure import VizError
from .matching import RankList, match_queries, pick_queries, rank_gallery
from .ranklist import rank_list_figure, render_rank_lists
from .tsne import render_tsne, tsne_embedding, tsne_figure

__all__ = [
    "RankList",
    "SimilarityTarget",
    "VizError",
    "cam_target",
    "gradcam_figure",
    "match_queries",
    "pick_queries",
    "rank_gallery",
    "rank_list_figure",
    "render_gradcam",
    "render_rank_lists",
    "render_tsne",
    "similarity_cams",
    "tsne_embedding",
    "tsne_figure",
]
