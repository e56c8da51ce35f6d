"""Reading checkpoints and loading them into models, strictly and with a report."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError

_np_core = getattr(np, "_core", None) or np.core
#: Numbers some trainers save beside the weights (deep-person-reid's ``rank1`` is a NumPy
#: scalar). Allowing these classes only rebuilds numbers; code is still refused.
SAFE_NUMPY_GLOBALS = [
    _np_core.multiarray.scalar,
    (_np_core.multiarray.scalar, "numpy.core.multiarray.scalar"),  # files written under NumPy 1.x
    np.dtype,
    *sorted({type(np.dtype(t)) for t in ("f2", "f4", "f8", "i4", "i8", "u1", "?")}, key=lambda c: c.__name__),
]

#: Keys under which training checkpoints nest the weights, tried in this order.
NESTING_KEYS = ("model", "state_dict", "model_state_dict", "net")

_SHOW = 10  # keys listed per kind in an error


@dataclasses.dataclass
class LoadReport:
    """What :func:`load_weights` did."""

    source: str  #: the file, or ``"<state dict>"``
    loaded: int = 0  #: tensors copied into the model
    missing: list[str] = dataclasses.field(default_factory=list)  #: model keys the checkpoint lacks
    unexpected: list[str] = dataclasses.field(default_factory=list)  #: checkpoint keys the model lacks
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = dataclasses.field(
        default_factory=list
    )  #: (key, checkpoint shape, model shape)
    dropped: list[str] = dataclasses.field(default_factory=list)  #: keys the family declares unused
    unwrapped: list[str] = dataclasses.field(default_factory=list)  #: nesting and prefixes removed
    renamed: int = 0  #: keys renamed by the family's converter

    @property
    def ok(self) -> bool:
        """True when every model tensor came from the checkpoint and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        """A readable summary, listing the first ten keys of each problem with counts."""
        lines = [f"{self.source}: {self.loaded} tensors loaded"]
        if self.unwrapped:
            lines.append("  unwrapped: " + ", ".join(self.unwrapped))
        if self.renamed:
            lines.append(f"  renamed from an older layout: {self.renamed} keys")
        if self.dropped:
            lines.append(f"  dropped as unused by this model ({len(self.dropped)}): " + _head(self.dropped))
        if self.missing:
            lines.append(f"  missing from the checkpoint ({len(self.missing)}): " + _head(self.missing))
        if self.unexpected:
            lines.append(f"  unexpected in the checkpoint ({len(self.unexpected)}): " + _head(self.unexpected))
        if self.mismatched:
            shown = [f"{k} checkpoint {list(a)} vs model {list(b)}" for k, a, b in self.mismatched]
            lines.append(f"  shape mismatch ({len(shown)}): " + _head(shown))
        return "\n".join(lines)


def _head(items: list[str]) -> str:
    more = f", ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return ", ".join(items[:_SHOW]) + more


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.pth``/``.pt``/``.pth.tar`` (with ``weights_only=True``) or ``.safetensors`` file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        with torch.serialization.safe_globals(SAFE_NUMPY_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from e
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict or a training checkpoint")
    return dict(obj)


def unwrap_state_dict(obj: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Find the state dict inside a training checkpoint and strip DataParallel/DDP prefixes.

    Returns the state dict and a list of what was unwrapped, for the report.
    """
    notes: list[str] = []
    sd: Mapping[str, Any] = obj
    for _ in range(3):  # e.g. {"state_dict": {"model": ...}} from some trainers
        if any(isinstance(v, torch.Tensor) for v in sd.values()):
            break
        nested = next((k for k in NESTING_KEYS if isinstance(sd.get(k), Mapping)), None)
        if nested is None:
            break
        notes.append(f'["{nested}"]')
        sd = sd[nested]
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(
            f"no tensors found; top-level keys are {sorted(obj)[:_SHOW]} "
            f"(weights are looked for at the top level and under {list(NESTING_KEYS)})"
        )
    for prefix in ("module.", "_orig_mod."):  # DataParallel/DDP, torch.compile
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
            notes.append(f"prefix {prefix!r}")
    return tensors, notes


def load_weights(
    model: nn.Module,
    checkpoint: str | os.PathLike | Mapping[str, Any],
    strict: bool = True,
    *,
    drop_classifier: bool = False,
) -> "LoadReport":
    """Load a checkpoint into ``model`` and report exactly what happened.

    Args:
        model: the model to fill (a :class:`reid_core.ReIDModel` or any module).
        checkpoint: a path (``.pth``, ``.pth.tar``, ``.safetensors``) or an in-memory state dict,
            plain, ``module.``-prefixed, or nested under ``"model"``/``"state_dict"``.
        strict: raise :class:`reid_core.errors.CheckpointError` on any missing, unexpected or
            shape-mismatched key (the first ten of each, with counts). With ``strict=False`` the
            matching tensors are loaded and the rest is only reported.
        drop_classifier: leave out the training classifier (the family's ``classifier_keys``),
            to load a file trained on a different number of identities for feature extraction.
    """
    source = str(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else "<state dict>"
    raw = read_checkpoint(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else dict(checkpoint)
    try:
        sd, notes = unwrap_state_dict(raw)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    report = LoadReport(source=source, unwrapped=notes)

    convert = getattr(model, "convert_checkpoint", None)
    if convert is not None:
        before = set(sd)
        sd = convert(sd)
        report.renamed = len(before - set(sd))

    own = model.state_dict()
    unused = tuple(getattr(model, "unused_checkpoint_keys", ()))
    classifier = tuple(getattr(model, "classifier_keys", ())) if drop_classifier else ()

    def matches(key: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(key, p) for p in patterns)

    usable: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if matches(key, classifier) or (key not in own and matches(key, unused)):
            report.dropped.append(key)
        elif key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
    mismatched = {m[0] for m in report.mismatched}
    report.missing = [k for k in own if k not in usable and k not in mismatched and not matches(k, classifier)]
    if strict and not report.ok:
        name = getattr(getattr(model, "meta", None), "name", None) or type(model).__name__
        raise CheckpointError(f"checkpoint does not fit {name} (strict=True):\n{report.describe()}")
    model.load_state_dict(usable, strict=False)
    report.loaded = len(usable)
    return report
