"""The model registry: families found through entry points, their builders and catalogs.

A family package creates one :class:`Family`, decorates each builder with
:meth:`Family.register`, and points an entry point of the group ``reid_zoo.families`` at it::

    [project.entry-points."reid_zoo.families"]
    bot = "reid_bot:family"

Families are discovered lazily, the first time a model is listed or built. Each entry point is
loaded on its own: one that fails is reported once and the others keep working.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import logging
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from torch import nn

from .catalog import ModelInfo, parse_catalog, read_package_catalog
from .errors import FamilyNotInstalledError, RegistryError, UnknownModelError
from .model import IMAGENET_MEAN, IMAGENET_STD, ModelMeta, ReIDModel

log = logging.getLogger("reid_core")

ENTRY_POINT_GROUP = "reid_zoo.families"

#: Name suffix -> the reid-zoo extra that installs the family.
KNOWN_SUFFIXES: dict[str, str] = {
    "_fastreid": "fastreid",
    "_transreid": "transreid",
    "_dpr": "torchreid",
    "_bot": "bot",
    "_agw": "agw",
    "_ap": "apnet",
    "_abd": "abd",
    "_transreid_ssl": "transreid-ssl",
    "_pass": "pass",
    "_clipreid": "clipreid",
}

Builder = Callable[..., nn.Module]


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A registered builder and the metadata of what it builds."""

    meta: ModelMeta
    builder: Builder


class Family:
    """One upstream family: its builders (registered by decorator) and its weights catalog.

    Args:
        name: short family name, e.g. ``"bot"``; models are named ``*_<suffix>``.
        package: the distribution name, e.g. ``"reid-bot"`` (shown in errors).
        module: the import name whose package data holds ``catalog.yaml``.
        extra: the ``reid-zoo`` extra that installs this family.
        catalog: a catalog mapping given directly (notebooks, tests) instead of the packaged file.
    """

    def __init__(
        self,
        name: str,
        *,
        package: str,
        module: str,
        extra: str | None = None,
        catalog: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.package = package
        self.module = module
        self.extra = extra or name
        self.models: dict[str, ModelEntry] = {}
        self._catalog = parse_catalog(catalog, f"catalog of {package}") if catalog is not None else None
        self._raw_catalog = catalog
        self._backbones: dict[str, Any] | None = None
        #: ``backbone_spec(name, model) -> BackboneSpec | None``: how a model takes its pretrained
        #: start (see :mod:`reid_core.backbone_weights`); set by the family package.
        self.backbone_spec: Callable[[str, nn.Module], Any] | None = None

    def register(
        self,
        name: str | None = None,
        *,
        feature_dim: int,
        input_size: tuple[int, int] = (256, 128),
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        camera_aware: bool = False,
        classifier_key: str | None = None,
        camera_key: str | None = None,
        cam_layer: str | None = None,
        paper: str | None = None,
        notes: str = "",
    ) -> Callable[[Builder], Builder]:
        """Decorator: register ``builder(num_classes, camera_num=0, **kwargs) -> ReIDModel``."""

        def deco(builder: Builder) -> Builder:
            model_name = name or builder.__name__
            if model_name in self.models:
                raise RegistryError(f"{self.package} registers {model_name!r} twice")
            meta = ModelMeta(
                name=model_name,
                family=self.name,
                feature_dim=feature_dim,
                input_size=tuple(input_size),
                mean=tuple(mean),
                std=tuple(std),
                camera_aware=camera_aware,
                classifier_key=classifier_key,
                camera_key=camera_key,
                cam_layer=cam_layer,
                paper=paper,
                notes=notes,
            )
            self.models[model_name] = ModelEntry(meta, builder)
            return builder

        return deco

    @property
    def catalog(self) -> dict[str, dict[str, Any]]:
        """The parsed ``catalog.yaml`` of the family (read once)."""
        if self._catalog is None:
            self._catalog = read_package_catalog(self.module)
        return self._catalog

    @property
    def backbones(self) -> dict[str, Any]:
        """id -> :class:`reid_core.backbone_weights.BackboneWeightsInfo`: the catalog's ``backbones:``."""
        if self._backbones is None:
            from .backbone_weights import parse_backbones, read_package_backbones

            raw = self._raw_catalog
            self._backbones = (
                parse_backbones(raw, f"catalog of {self.package}") if raw is not None
                else read_package_backbones(self.module)
            )
        return self._backbones

    def __repr__(self) -> str:
        return f"Family({self.name!r}, package={self.package!r}, models={len(self.models)})"


class Registry:
    """All installed families. Use the module-level functions rather than this class."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._families: dict[str, Family] | None = None
        self._models: dict[str, tuple[Family, ModelEntry]] = {}
        self.failures: dict[str, str] = {}  #: entry point -> why it failed to load

    def reset(self) -> None:
        """Forget what was discovered (tests install fake entry points and call this)."""
        with self._lock:
            self._families = None
            self._models = {}
            self.failures = {}

    def add_family(self, family: Family) -> None:
        """Register a family directly, without an entry point (for notebooks and tests)."""
        with self._lock:
            self._ensure()
            self._add(family)

    def _add(self, family: Family) -> None:
        assert self._families is not None
        for model_name, entry in family.models.items():
            if model_name in self._models:
                other = self._models[model_name][0]
                raise RegistryError(
                    f"model {model_name!r} is registered by two packages: {other.package} "
                    f"(family {other.name!r}) and {family.package} (family {family.name!r}); "
                    "uninstall one of them"
                )
            self._models[model_name] = (family, entry)
        self._families[family.name] = family

    def _ensure(self) -> None:
        if self._families is not None:
            return
        with self._lock:
            if self._families is not None:
                return
            self._families = {}
            for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                dist = getattr(ep.dist, "name", None) or ep.value.split(":")[0]
                try:
                    family = ep.load()
                    if not isinstance(family, Family):
                        raise TypeError(f"{ep.value} is a {type(family).__name__}, not a reid_core.Family")
                except Exception as e:  # a broken plugin must not take the others down
                    why = f"{type(e).__name__}: {e}"
                    self.failures[ep.name] = f"{dist} ({ep.value}): {why}"
                    msg = f"reid-zoo family {ep.name!r} from {dist} failed to load and is skipped: {why}"
                    log.warning(msg)
                    warnings.warn(msg, RuntimeWarning, stacklevel=3)
                    continue
                self._add(family)

    @property
    def families(self) -> dict[str, Family]:
        """name -> Family, for every family that loaded."""
        self._ensure()
        assert self._families is not None
        return dict(self._families)

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._models)

    def lookup(self, name: str) -> tuple[Family, ModelEntry]:
        """The family and entry of ``name``, or an error that says what to do."""
        self._ensure()
        if name in self._models:
            return self._models[name]
        for suffix, extra in KNOWN_SUFFIXES.items():
            if name.endswith(suffix) and not any(f.extra == extra for f in self.families.values()):
                failed = self.failures.get(extra)
                why = f" Its package is installed but failed to load: {failed}." if failed else ""
                raise FamilyNotInstalledError(
                    f"model {name!r} belongs to the {extra!r} family, which is not installed.{why} "
                    f'Install it with: pip install "reid-zoo[{extra}]"'
                )
        close = difflib.get_close_matches(name, self._models, n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        installed = ", ".join(sorted(self.families)) or "none"
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Installed families: {installed}; "
            "reid_core.list_models() lists every name."
        )


REGISTRY = Registry()


def list_models(pattern: str = "*", family: str | None = None, pretrained: bool | None = None) -> list[str]:
    """Names of the installed models, sorted.

    Args:
        pattern: fnmatch pattern on the name, e.g. ``"*_R50*"``.
        family: keep only this family (e.g. ``"fastreid"``).
        pretrained: ``True`` keeps models with catalogued weights, ``False`` those without.
    """
    out = []
    for name in REGISTRY.names():
        fam, _ = REGISTRY.lookup(name)
        if family is not None and fam.name != family:
            continue
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        if pretrained is not None:
            has = bool(fam.catalog.get(name, {}).get("weights"))
            if has != pretrained:
                continue
        out.append(name)
    return out


def list_families() -> dict[str, Family]:
    """name -> :class:`Family` for every installed family that loaded."""
    return REGISTRY.families


def model_info(name: str) -> ModelInfo:
    """Metadata and catalogued weights of ``name`` (see :class:`reid_core.ModelInfo`)."""
    fam, entry = REGISTRY.lookup(name)
    cat = fam.catalog.get(name, {})
    fields = {f.name: getattr(entry.meta, f.name) for f in dataclasses.fields(ModelMeta)}
    return ModelInfo(
        **fields,
        package=fam.package,
        published=cat.get("published", {}),
        all_weights=tuple(cat.get("weights", ())),
    )


def create_model(
    name: str,
    num_classes: int = 751,
    camera_num: int = 0,
    *,
    backbone_weights: str | os.PathLike | None = None,
    **kwargs: Any,
) -> ReIDModel:
    """Build ``name`` in train mode: random weights, or a pretrained trunk.

    Args:
        name: a zoo name (see :func:`list_models`).
        num_classes: classifier size; 751 is Market-1501's training identities.
        camera_num: cameras, for camera-aware models (ignored by the others).
        backbone_weights: ``None`` (random init), ``"imagenet"`` (the file the upstream recipe
            starts from, as the family's catalog lists it, fetched into the weights cache), or a
            path or URL of a file in that same layout. The file's keys are mapped onto the trunk
            strictly; the report is ``model.backbone_report`` (see :mod:`reid_core.backbone_weights`).
        **kwargs: family-specific options, documented on the family's page.
    """
    fam, entry = REGISTRY.lookup(name)
    # a family without a BackboneSpec hook loads its own starts (e.g. PASS's LUPerson trunks):
    # the builder takes backbone_weights itself
    own_loader = backbone_weights is not None and fam.backbone_spec is None
    if own_loader:
        kwargs["backbone_weights"] = backbone_weights
    model = entry.builder(num_classes=num_classes, camera_num=camera_num, **kwargs)
    if not isinstance(model, ReIDModel):
        raise RegistryError(f"{fam.package}: builder of {name!r} returned {type(model).__name__}, not a ReIDModel")
    model.attach_meta(entry.meta)
    if not own_loader or not hasattr(model, "backbone_report"):
        model.backbone_report = None
    if backbone_weights is not None and not own_loader:
        from .backbone_weights import apply_backbone_weights

        model.backbone_report = apply_backbone_weights(fam, name, model, backbone_weights)
    return model
