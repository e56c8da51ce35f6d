"""Reading checkpoints and loading them into models, strictly and with a report."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import pickle
import re
import zipfile
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
    cast: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    #: (key, checkpoint dtype, model dtype): loaded with a change of precision, e.g. float16 -> float32
    wrong_dtype: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    #: (key, checkpoint dtype, model dtype): refused, e.g. integers or booleans for a float parameter

    @property
    def ok(self) -> bool:
        """True when every model tensor came from the checkpoint and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched or self.wrong_dtype)

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
        if self.wrong_dtype:
            shown = [f"{k} checkpoint {a} vs model {b}" for k, a, b in self.wrong_dtype]
            lines.append(f"  wrong kind of values, refused ({len(shown)}): " + _head(shown))
        if self.cast:
            pairs = sorted({f"{a} -> {b}" for _, a, b in self.cast})
            lines.append(f"  cast ({len(self.cast)} tensors, {', '.join(pairs)}): " + _head([k for k, _, _ in self.cast]))
        return "\n".join(lines)


def _kind(dtype: torch.dtype) -> str:
    """Values of one kind may be cast into each other (float16 into float32); across kinds they may not."""
    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    return "float" if dtype.is_floating_point else "int"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _head(items: list[str]) -> str:
    more = f", ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return ", ".join(items[:_SHOW]) + more


#: The first bytes of a file written by ``torch.save(..., _use_new_zipfile_serialization=False)``
#: (torch < 1.6 wrote only this): pickle protocol 2, then torch's magic number as a LONG1.
_LEGACY_TORCH_MAGIC = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def checkpoint_format(path: str | os.PathLike) -> str:
    """What a file holds, from its first bytes: ``"zip"`` (``torch.save``, also ``.npz``),
    ``"safetensors"``, ``"legacy"`` (torch's pre-1.6 pickle format), ``"gzip"``, ``"html"`` or ``"unknown"``."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head[:1] == b"\x80" and head[2:14] == _LEGACY_TORCH_MAGIC:
        return "legacy"
    if len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 27):
        return "safetensors"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.lstrip()[:1] == b"<":
        return "html"
    return "unknown"


def check_loadable(path: str | os.PathLike) -> str:
    """Prove that a downloaded file is a whole checkpoint before anyone trusts it; return its format.

    A torch file must have a readable zip directory whose members all pass their CRC check; a
    safetensors file a header whose tensors end exactly where the file ends; a legacy torch file
    must load (with ``weights_only=True``). Anything else, e.g. an HTML page or a gzip stream,
    raises :class:`~reid_core.errors.CheckpointError` saying what the file is instead.
    """
    path = Path(path)
    kind = checkpoint_format(path)
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise CheckpointError(f"{path} is not a whole zip archive (torch.save format): {e}") from None
        if bad is not None:
            raise CheckpointError(f"{path}: member {bad} of the zip archive fails its CRC check")
    elif kind == "safetensors":
        _check_safetensors(path)
    elif kind == "legacy":
        read_checkpoint(path)
    elif kind == "gzip":
        raise CheckpointError(f"{path} is gzip-compressed data, not a checkpoint (a compressed download left undecoded?)")
    elif kind == "html":
        raise CheckpointError(
            f"{path} is an HTML page, not a checkpoint (a login, quota or confirmation page served instead of the file?)"
        )
    else:
        raise CheckpointError(
            f"{path} is not a checkpoint: neither a zip archive (torch.save), nor safetensors, nor torch's legacy format"
        )
    return kind


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        raise CheckpointError(f"{path} has no valid safetensors header: {type(e).__name__}: {e}") from None
    if 8 + n + max(ends, default=0) != size:
        raise CheckpointError(
            f"{path} is {size} bytes but its safetensors header describes {8 + n + max(ends, default=0)}: "
            "the file is cut short or has extra bytes"
        )


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.pth``/``.pt``/``.pth.tar`` (with ``weights_only=True``) or ``.safetensors`` file.

    The format is recognised from the file's first bytes, not its name.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors" or checkpoint_format(path) == "safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        with torch.serialization.safe_globals(SAFE_NUMPY_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(_refusal(path, e)) from None
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from e
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict or a training checkpoint")
    return dict(obj)


def _refusal(path: Path, error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in our words rather than torch's advice."""
    text = str(error)
    failing = re.findall(r"Unsupported global: GLOBAL (\S+)", text)  # torch names it briefly
    try:
        listed = torch.serialization.get_unsafe_globals_in_checkpoint(path)  # full names, zip files only
    except Exception:
        listed = []
    found = [g for g in listed if any(g == f or g.endswith("." + f) for f in failing)] or failing or listed
    if found:
        what = f"pickled Python objects besides tensors and numbers: {', '.join(found[:5])}"
    else:
        reason = re.search(r"WeightsUnpickler error: ([^\n]+)", text)
        what = "pickled data that is not tensors and numbers" + (f" ({reason.group(1).strip()})" if reason else "")
    return (
        f"refused to read {path}: it holds {what}. Unpickling them could run code from the file, so "
        "reid-zoo reads only tensors, numbers and strings (torch.load with weights_only=True). If you "
        "trust the file, save its state dict alone (torch.save(model.state_dict(), PATH)) with the code "
        "that wrote it, and load that."
    )


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
            shape-mismatched key, or on values of the wrong kind (integers or booleans for a float
            parameter; the first ten of each, with counts). With ``strict=False`` the matching
            tensors are loaded and the rest is only reported. A change of precision within a
            kind (float16 into float32) is loaded and listed in the report's ``cast``.
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
        elif value.dtype != own[key].dtype:
            change = (key, _dtype_name(value.dtype), _dtype_name(own[key].dtype))
            if _kind(value.dtype) != _kind(own[key].dtype):
                report.wrong_dtype.append(change)
            else:
                report.cast.append(change)
                usable[key] = value
        else:
            usable[key] = value
    mismatched = {m[0] for m in report.mismatched} | {w[0] for w in report.wrong_dtype}
    report.missing = [k for k in own if k not in usable and k not in mismatched and not matches(k, classifier)]
    if strict and not report.ok:
        name = getattr(getattr(model, "meta", None), "name", None) or type(model).__name__
        raise CheckpointError(f"checkpoint does not fit {name} (strict=True):\n{report.describe()}")
    model.load_state_dict(usable, strict=False)
    report.loaded = len(usable)
    return report
