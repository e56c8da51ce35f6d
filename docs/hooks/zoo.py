"""MkDocs hook: fill the generated parts of the pages from the installed families.

A page asks for a generated block with an HTML comment on a line of its own:

* ``<!-- reid-zoo:weights-table -->``: every catalogued weights file of every installed family
  (Dataset, Model, Top1, Top5, mAP, mINP, MACs, Params, Source, Licence), the seed's table and more;
* ``<!-- reid-zoo:untrained-table -->``: the models that have no published weights;
* ``<!-- reid-zoo:family-models NAME -->``: the models one family registers;
* ``<!-- reid-zoo:counts -->``: a sentence with the numbers of families, models and files.

Everything comes from ``reid_core``'s registry and the packages' ``catalog.yaml`` files, so the
site always describes what is installed; nothing is downloaded.
"""

from __future__ import annotations

import re
from typing import Any

DATASET_ORDER = ("market1501", "dukemtmcreid", "msmt17")
DATASET_TITLES = {"market1501": "Market-1501", "dukemtmcreid": "DukeMTMC-reID", "msmt17": "MSMT17"}
WEIGHTS_COLUMNS = ("Dataset", "Model", "Top1", "Top5", "mAP", "mINP", "MACs", "Params", "Source", "Licence")

_MARKER = re.compile(r"^<!-- reid-zoo:([a-z-]+)(?: ([\w-]+))? -->$", re.MULTILINE)


def _registry() -> Any:
    from reid_core.registry import REGISTRY

    families = REGISTRY.families
    if REGISTRY.failures:
        broken = "; ".join(f"{k}: {v}" for k, v in REGISTRY.failures.items())
        raise RuntimeError(f"reid-zoo families failed to import, the zoo pages would be wrong: {broken}")
    return families


def _dataset_rank(dataset: str) -> int:
    return DATASET_ORDER.index(dataset) if dataset in DATASET_ORDER else len(DATASET_ORDER)


def _metric(metrics: dict[str, float], key: str) -> str:
    value = metrics.get(key)
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def weights_rows() -> list[dict[str, str]]:
    """One row per catalogued weights file, ordered by dataset, family, model and source."""
    rows = []
    for fam_name, family in sorted(_registry().items()):
        for model, entry in sorted(family.catalog.items()):
            published = entry.get("published", {})
            for w in entry.get("weights", []):
                rows.append({
                    "Dataset": DATASET_TITLES.get(w.dataset, w.dataset),
                    "Model": f"`{model}`",
                    "Top1": _metric(w.metrics, "top1"),
                    "Top5": _metric(w.metrics, "top5"),
                    "mAP": _metric(w.metrics, "mAP"),
                    "mINP": _metric(w.metrics, "mINP"),
                    "MACs": str(published.get("macs", "-")),
                    "Params": str(published.get("params", "-")),
                    "Source": f"[{w.source}]({w.url})",
                    "Licence": w.licence or "none stated",
                    "_key": (_dataset_rank(w.dataset), fam_name, model, w.source),
                })
    rows.sort(key=lambda r: r["_key"])
    return rows


def _table(columns: tuple[str, ...] | list[str], rows: list[dict[str, str]], css: str) -> str:
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join(" --- " for _ in columns) + "|"
    body = ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    # md_in_html renders the Markdown inside; the class lets readers (and tests) find the table
    return "\n".join([f'<div class="{css}" markdown>', "", head, rule, *body, "", "</div>"])


def weights_table() -> str:
    return _table(WEIGHTS_COLUMNS, weights_rows(), "zoo-table")


def untrained_table() -> str:
    rows = []
    for fam_name, family in sorted(_registry().items()):
        for model, entry in sorted(family.models.items()):
            if family.catalog.get(model, {}).get("weights"):
                continue
            meta = entry.meta
            rows.append({"Model": f"`{model}`", "Family": fam_name, "Features": str(meta.feature_dim),
                         "Input": f"{meta.input_size[0]}x{meta.input_size[1]}"})
    if not rows:
        return "Every installed model has published weights."
    return _table(("Model", "Family", "Features", "Input"), rows, "untrained-table")


def family_models(name: str) -> str:
    families = _registry()
    if name not in families:
        return f'!!! warning "Not installed"\n    The `{name}` family is not installed where this site was built.'
    family = families[name]
    rows = []
    for model, entry in sorted(family.models.items()):
        meta = entry.meta
        cat = family.catalog.get(model, {})
        by_source: dict[str, list[str]] = {}
        for w in cat.get("weights", []):
            by_source.setdefault(w.source, []).append(w.dataset)
        datasets = [
            f"{source}: " + ", ".join(f"`{d}`" for d in sorted(set(ds), key=_dataset_rank))
            for source, ds in sorted(by_source.items(), key=lambda kv: (kv[0] != "seed", kv[0]))
        ]
        rows.append({
            "Model": f"`{model}`",
            "Features": str(meta.feature_dim),
            "Input": f"{meta.input_size[0]}x{meta.input_size[1]}",
            "Camera-aware": "yes" if meta.camera_aware else "no",
            "Grad-CAM layer": f"`{meta.cam_layer}`" if meta.cam_layer else "-",
            "Params": str(cat.get("published", {}).get("params", "-")),
            "Weights": "; ".join(datasets) or "none",
        })
    columns = ("Model", "Features", "Input", "Camera-aware", "Grad-CAM layer", "Params", "Weights")
    return _table(columns, rows, "family-table")


def counts() -> str:
    families = _registry()
    models = sum(len(f.models) for f in families.values())
    files = len(weights_rows())
    return f"{len(families)} families installed, {models} models, {files} catalogued weights files."


def render(markdown: str) -> str:
    """Replace every marker of ``markdown`` with its generated block."""

    def replace(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "weights-table":
            return weights_table()
        if kind == "untrained-table":
            return untrained_table()
        if kind == "family-models" and arg:
            return family_models(arg)
        if kind == "counts":
            return counts()
        raise ValueError(f"unknown reid-zoo marker {m.group(0)!r}")

    return _MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: generated blocks are filled in before the Markdown is converted."""
    return render(markdown) if "<!-- reid-zoo:" in markdown else markdown
