"""Weights catalogs: which trained files exist for a model, where they come from, what they score.

Each family ships ``catalog.yaml`` as package data::

    format: reid-zoo-catalog-v1
    models:
      resnet50_bot:
        normalization: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
        published: {macs: 4.087G, params: 23.512M}   # as the source published them
        weights:
          - dataset: market1501
            source: seed             # "seed" is the default source
            url: https://.../market1501-resnet50_bot-0.86-xxxx.pth
            sha256: null             # null: recorded on first download, verified afterwards
            num_classes: 751
            input_size: [256, 128]   # optional: (H, W) trained at, when not the model's default
            build: {}                # optional: builder options these weights need (code era)
            licence: MIT             # optional here: defaults to the model's, then the catalog's
            camera_num: 0
            metrics: {mAP: 0.857, mINP: 0.593, top1: 0.941, top5: 0.982}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from .errors import RegistryError
from .model import ModelMeta

CATALOG_FORMAT = "reid-zoo-catalog-v1"
DEFAULT_SOURCE = "seed"


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """One published weights file of one model on one dataset."""

    dataset: str  #: training dataset: ``market1501``, ``dukemtmcreid``, ``msmt17``
    source: str  #: who trained it: ``seed`` (the default) or e.g. ``fastreid``
    url: str  #: where the file is downloaded from
    sha256: str | None  #: expected checksum; ``None``: recorded on first download
    num_classes: int  #: training identities (classifier size)
    camera_num: int = 0  #: cameras for camera-aware models, else 0
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)  #: published scores
    config: str | None = None  #: the upstream training config, where published
    input_size: tuple[int, int] | None = None  #: (H, W) trained at; ``None``: the model's default
    build: Mapping[str, Any] = dataclasses.field(default_factory=dict)  #: extra builder options
    #: (e.g. the upstream code era: ``{stem_pool: "pad1"}``) that these weights need
    licence: str | None = None  #: licence of the file ("MIT", "Apache-2.0", "none stated")
    cache_name: str | None = None  #: readable cache file name where the URL has none (Drive, OneDrive)

    @property
    def file_name(self) -> str:
        """The catalogued file name: ``cache_name``, else the last component of the URL."""
        return self.cache_name or self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclasses.dataclass(frozen=True)
class ModelInfo(ModelMeta):
    """A model's metadata together with its catalogued weights (what :func:`reid_core.model_info` returns)."""

    package: str = ""  #: the distribution that provides it, e.g. ``reid-bot``
    published: Mapping[str, str] = dataclasses.field(default_factory=dict)  #: e.g. macs, params
    all_weights: tuple[WeightsInfo, ...] = ()  #: every file, all sources

    @property
    def weights(self) -> dict[str, WeightsInfo]:
        """dataset -> weights of the default source (``seed``), or of the only source there is."""
        return self.weights_from(DEFAULT_SOURCE if DEFAULT_SOURCE in self.sources else None)

    @property
    def sources(self) -> list[str]:
        """Weight sources catalogued for this model, default first."""
        found = sorted({w.source for w in self.all_weights})
        return sorted(found, key=lambda s: s != DEFAULT_SOURCE)

    def weights_from(self, source: str | None) -> dict[str, WeightsInfo]:
        """dataset -> weights of one source (``None``: the first catalogued source)."""
        if source is None:
            source = self.sources[0] if self.sources else DEFAULT_SOURCE
        return {w.dataset: w for w in self.all_weights if w.source == source}


def _size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    h, w = (int(v) for v in value)
    return (h, w)


def parse_catalog(data: Mapping[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    """Validate a catalog mapping; return ``name -> {"published", "normalization", "weights": [WeightsInfo]}``.

    ``normalization`` (mean/std of images in [0, 1]) is what the published weights expect; the
    registered model must use the same.
    """
    if not isinstance(data, Mapping) or data.get("format") != CATALOG_FORMAT:
        raise RegistryError(f"{origin}: not a reid-zoo catalog (expected 'format: {CATALOG_FORMAT}')")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in (data.get("models") or {}).items():
        records = []
        for i, rec in enumerate(entry.get("weights") or []):
            try:
                records.append(
                    WeightsInfo(
                        dataset=str(rec["dataset"]),
                        source=str(rec.get("source", DEFAULT_SOURCE)),
                        url=str(rec["url"]),
                        sha256=rec.get("sha256"),
                        num_classes=int(rec["num_classes"]),
                        camera_num=int(rec.get("camera_num", 0)),
                        metrics=dict(rec.get("metrics") or {}),
                        config=rec.get("config"),
                        input_size=_size(rec.get("input_size")),
                        build=dict(rec.get("build") or {}),
                        licence=rec.get("licence", entry.get("licence", data.get("licence"))),
                        cache_name=rec.get("cache_name"),
                    )
                )
            except (KeyError, TypeError, ValueError) as e:
                raise RegistryError(f"{origin}: models.{name}.weights[{i}] is malformed: {e!r}") from e
        norm = entry.get("normalization") or {}
        out[name] = {
            "published": dict(entry.get("published") or {}),
            "normalization": {k: tuple(float(x) for x in v) for k, v in norm.items()},
            "weights": records,
        }
    return out


def read_package_catalog(package: str, resource: str = "catalog.yaml") -> dict[str, dict[str, Any]]:
    """Read and validate the catalog shipped as package data of ``package`` (an import name)."""
    origin = f"{package}/{resource}"
    try:
        text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse_catalog(yaml.safe_load(text), origin)
