"""Pretrained starts: the ImageNet weights a family's upstream recipe initialises its trunk from.

A family's ``catalog.yaml`` lists those files in a top-level ``backbones:`` section, next to
the trained weights::

    backbones:
      resnet50_torchvision:
        url: https://download.pytorch.org/models/resnet50-19c8e357.pth
        hash_prefix: 19c8e357        # what torch.hub's check_hash compares, where upstream names one
        sha256: null                 # null: recorded on first download, verified afterwards
        source: torchvision (fast-reid's model_urls['50x'])
        licence: BSD-3-Clause

The family says, per model, which of those files its upstream loads and how the file's keys map
onto the model (a :class:`BackboneSpec`, returned by ``Family.backbone_spec(name, model)``).
:func:`load_backbone_weights` applies the mapping strictly: every trunk tensor must come from
the file unless the spec names it as left at its initialisation upstream too (e.g. non-local
blocks, which ImageNet never saw), every file key must be used or named as dropped (the ImageNet
classifier), and the report lists both.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from torch import nn

from .checkpoint import LoadReport, _head, read_checkpoint, unwrap_state_dict
from .errors import CheckpointError, ChecksumError, RegistryError, WeightsError
from .hub import cache_path, fetch_file, sha256_of

if TYPE_CHECKING:
    from .registry import Family

#: ``backbone_weights=`` value that means "the file the upstream recipe starts from"
IMAGENET = "imagenet"


@dataclasses.dataclass(frozen=True)
class BackboneWeightsInfo:
    """One catalogued ImageNet (or other pretraining) file, as the upstream code fetches it."""

    name: str  #: id in the family catalog's ``backbones:`` section
    url: str  #: where upstream downloads it from
    sha256: str | None = None  #: full checksum, where known
    hash_prefix: str | None = None  #: leading hex digits of the sha256 named in the file name
    source: str = ""  #: who published it and which upstream line names it
    licence: str | None = None  #: licence of the file
    cache_name: str | None = None  #: file name in the cache where the URL has none (Drive)
    manual: bool = False  #: upstream cannot download it either; the user puts it in the cache
    notes: str = ""  #: anything a user must know

    @property
    def file_name(self) -> str:
        """Name of the file in the cache: ``cache_name``, else the URL's last component."""
        return self.cache_name or self.url.rstrip("/").rsplit("/", 1)[-1]


#: file key prefix -> model key prefix; a prefix may appear in several pairs (copied branches)
RenameRule = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How one model takes its pretrained start.

    A file key ``k`` maps to ``dst + k[len(src):]`` for every ``(src, dst)`` in ``rename`` whose
    ``src`` starts ``k``; several pairs may match (MGN's and TransReID's branches are copies of
    the trunk's last stages, and upstream copies them after loading).
    """

    weights: str | None  #: id in the catalog's ``backbones:``; ``None``: upstream names no file
    trunk: tuple[str, ...]  #: fnmatch patterns of model keys that must come from the file
    rename: tuple[RenameRule, ...] = (("", ""),)  #: file prefix -> model prefix pairs
    drop: tuple[str, ...] = ()  #: patterns of file keys upstream does not use (reported)
    fresh: tuple[str, ...] = ()  #: patterns of trunk keys upstream also leaves at their init
    #: called as ``convert(model, state_dict)`` before renaming, for value changes (pos-embed resize)
    convert: Callable[[nn.Module, dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
    why_none: str = ""  #: when ``weights`` is ``None``: what upstream does instead


@dataclasses.dataclass
class BackboneReport(LoadReport):
    """What :func:`load_backbone_weights` did: a :class:`LoadReport` plus what stayed at init."""

    origin: str = ""  #: where the file came from (catalog id and URL, a URL, or a path)
    fresh: list[str] = dataclasses.field(default_factory=list)  #: trunk keys left at init, as upstream
    counters: list[str] = dataclasses.field(default_factory=list)  #: BN step counters the file lacks

    def describe(self) -> str:
        """A readable summary: origin, counts, then what was dropped, kept at init or wrong."""
        lines = [f"pretrained start from {self.origin}: {self.loaded} tensors loaded"]
        if self.unwrapped:
            lines.append("  unwrapped: " + ", ".join(self.unwrapped))
        if self.renamed:
            lines.append(f"  mapped onto model names: {self.renamed} tensors")
        if self.dropped:
            lines.append(f"  dropped, unused upstream too ({len(self.dropped)}): " + _head(self.dropped))
        if self.fresh:
            lines.append(f"  left at init, as upstream ({len(self.fresh)}): " + _head(self.fresh))
        if self.counters:
            lines.append(f"  BatchNorm step counters not in the file, kept at 0: {len(self.counters)}")
        if self.missing:
            lines.append(f"  trunk tensors the file does not set ({len(self.missing)}): " + _head(self.missing))
        if self.unexpected:
            lines.append(f"  file keys with no place in the model ({len(self.unexpected)}): " + _head(self.unexpected))
        if self.mismatched:
            shown = [f"{k} file {list(a)} vs model {list(b)}" for k, a, b in self.mismatched]
            lines.append(f"  shape mismatch ({len(shown)}): " + _head(shown))
        return "\n".join(lines)


def parse_backbones(data: Mapping[str, Any] | None, origin: str) -> dict[str, BackboneWeightsInfo]:
    """The ``backbones:`` section of a catalog mapping, validated (empty when there is none)."""
    section = (data or {}).get("backbones") or {}
    if not isinstance(section, Mapping):
        raise RegistryError(f"{origin}: 'backbones' must be a mapping of id -> record")
    default_licence = (data or {}).get("licence")
    out = {}
    for name, rec in section.items():
        try:
            out[str(name)] = BackboneWeightsInfo(
                name=str(name),
                url=str(rec["url"]),
                sha256=rec.get("sha256"),
                hash_prefix=rec.get("hash_prefix"),
                source=str(rec.get("source", "")),
                licence=rec.get("licence", default_licence),
                cache_name=rec.get("cache_name"),
                manual=bool(rec.get("manual", False)),
                notes=str(rec.get("notes", "")),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise RegistryError(f"{origin}: backbones.{name} is malformed: {e!r}") from e
    return out


def read_package_backbones(module: str) -> dict[str, BackboneWeightsInfo]:
    """The ``backbones:`` section of the ``catalog.yaml`` shipped by ``module``."""
    try:
        text = resources.files(module).joinpath("catalog.yaml").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return {}
    return parse_backbones(yaml.safe_load(text), f"{module}/catalog.yaml")


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "file://"))


def resolve_backbone_file(
    family: Family, name: str, spec: BackboneSpec, backbone_weights: str | os.PathLike, *, progress: bool = True
) -> tuple[Path, str]:
    """``(local path, description of the origin)`` of ``backbone_weights`` for model ``name``.

    ``"imagenet"`` is the catalogued file (fetched into the weights cache), a URL is fetched the
    same way, anything else is a local path.
    """
    text = str(backbone_weights)
    if text == IMAGENET:
        if spec.weights is None:
            why = f" ({spec.why_none})" if spec.why_none else ""
            raise WeightsError(
                f"{name}: the upstream recipe names no ImageNet file for this backbone{why}; "
                "pass backbone_weights=PATH or URL, or train without a pretrained start"
            )
        records = family.backbones
        if spec.weights not in records:
            raise RegistryError(
                f"{family.package}: {name} starts from backbone weights {spec.weights!r}, which its "
                f"catalog's 'backbones:' section does not list (it has: {', '.join(sorted(records)) or 'none'})"
            )
        info = records[spec.weights]
        what = f"ImageNet weights {info.name} for {name}"
        if info.manual:
            path = cache_path(info.url, info.file_name)
            if not path.is_file():
                raise WeightsError(
                    f"{what}: upstream publishes them at {info.url}, which cannot be downloaded "
                    f"automatically; download the file by hand and put it at {path}"
                    + (f" ({info.notes})" if info.notes else "")
                )
        else:
            path = fetch_file(info.url, sha256=info.sha256, file_name=info.file_name, progress=progress, what=what)
        if info.hash_prefix and not sha256_of(path).startswith(info.hash_prefix.lower()):
            raise ChecksumError(
                f"{what}: {path} has sha256 {sha256_of(path)}, which does not start with {info.hash_prefix} "
                f"as its upstream name says; delete it to download it again"
            )
        return path, f"{info.name} ({info.url}, {info.source or 'source not stated'})"
    if _is_url(text):
        return fetch_file(text, progress=progress, what=f"backbone weights for {name}"), text
    path = Path(text).expanduser()
    if not path.is_file():
        raise CheckpointError(f"backbone weights for {name}: file not found: {path}")
    return path, str(path)


def load_backbone_weights(
    model: nn.Module,
    spec: BackboneSpec,
    checkpoint: str | os.PathLike | Mapping[str, Any],
    *,
    origin: str | None = None,
) -> BackboneReport:
    """Map a pretrained file's keys onto ``model`` as ``spec`` says, strictly, and load them.

    Raises :class:`reid_core.errors.CheckpointError` naming the keys when a trunk tensor is not
    set (and is not one upstream leaves at init), when a file key is neither used nor declared
    dropped, or when a shape differs. Nothing is loaded then.
    """
    source = str(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else "<state dict>"
    raw = read_checkpoint(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else dict(checkpoint)
    try:
        sd, notes = unwrap_state_dict(raw)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    report = BackboneReport(source=source, unwrapped=notes, origin=origin or source)
    if spec.convert is not None:
        sd = spec.convert(model, dict(sd))

    own = model.state_dict()
    usable: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if _matches(key, spec.drop):
            report.dropped.append(key)
            continue
        targets = [dst + key[len(src):] for src, dst in spec.rename if key.startswith(src)]
        if not targets:
            report.unexpected.append(key)
        for target in targets:
            shown = key if target == key else f"{key} -> {target}"
            if target not in own:
                report.unexpected.append(shown)
            elif tuple(value.shape) != tuple(own[target].shape):
                report.mismatched.append((shown, tuple(value.shape), tuple(own[target].shape)))
            else:
                usable[target] = value
                report.renamed += target != key
    mismatched = {m[0].rsplit(" -> ", 1)[-1] for m in report.mismatched}
    for key in own:
        if not _matches(key, spec.trunk) or key in usable or key in mismatched:
            continue
        if _matches(key, spec.fresh):
            report.fresh.append(key)
        elif key.endswith("num_batches_tracked"):
            report.counters.append(key)  # older files predate the counter; it only counts steps
        else:
            report.missing.append(key)
    if not report.ok:
        name = getattr(getattr(model, "meta", None), "name", None) or type(model).__name__
        raise CheckpointError(f"pretrained weights do not fit the trunk of {name}:\n{report.describe()}")
    model.load_state_dict(usable, strict=False)
    report.loaded = len(usable)
    return report


def backbone_spec_of(family: Family, name: str, model: nn.Module) -> BackboneSpec:
    """The family's :class:`BackboneSpec` for ``name``, or an error saying it declares none."""
    spec = family.backbone_spec(name, model) if family.backbone_spec is not None else None
    if spec is None:
        raise WeightsError(
            f"{name} ({family.package}) declares no pretrained start; its trunk cannot take backbone weights"
        )
    return spec


def apply_backbone_weights(
    family: Family, name: str, model: nn.Module, backbone_weights: str | os.PathLike, *, progress: bool = True
) -> BackboneReport:
    """Resolve ``backbone_weights`` for model ``name`` and load them strictly (see :func:`load_backbone_weights`)."""
    spec = backbone_spec_of(family, name, model)
    path, origin = resolve_backbone_file(family, name, spec, backbone_weights, progress=progress)
    return load_backbone_weights(model, spec, path, origin=origin)

