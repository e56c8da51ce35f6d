"""The backend :func:`reid_core.extract_features` runs a model with.

``backend="auto"`` (the default) on a CPU takes the first installed of :data:`CPU_ORDER` whose
features pass the parity check against PyTorch (:class:`~reid_core.deploy.Parity`, fp32 bound),
for zoo models and jobs of at least :data:`AUTO_MIN_IMAGES` images: exporting a model costs
seconds to a minute once (the file is cached), which a short job would not win back. Anything
else runs in PyTorch, in ``channels_last``. A backend that cannot export the model or misses
parity is reported in a warning and skipped, never used.

The backends built here are kept per model and weights digest for the life of the model, so a
query set and a gallery set pay the check once.
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ReidError
from .backends import BACKENDS, available

#: exported backends ``auto`` tries on a CPU, fastest first (measured: see docs/deployment.md)
CPU_ORDER = ("openvino", "onnxruntime")
#: the fewest images for which ``auto`` exports a model (a smaller job runs in PyTorch)
AUTO_MIN_IMAGES = 1000
CHOICES = ("auto", *BACKENDS)

_built: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, str, str], Runner]] = weakref.WeakKeyDictionary()


@dataclasses.dataclass
class Runner:
    """An exported backend ready to run batches: ``run(images, camids) -> features`` (numpy float32)."""

    backend: str
    run: Callable[[np.ndarray, np.ndarray | None], np.ndarray]
    summary: str  #: the parity check's numbers


def check_choice(backend: str) -> None:
    """Raise ``ValueError`` for a backend name that is not one of :data:`CHOICES`."""
    if backend not in CHOICES:
        raise ValueError(f"backend must be one of {', '.join(CHOICES)}, got {backend!r}")


def exported_runner(model: nn.Module, backend: str, device: torch.device, *, images: int | None,
                    input_size: tuple[int, int], own_resize: bool, amp: bool) -> Runner | None:
    """The exported backend to run ``model`` with, or ``None`` for PyTorch.

    ``images`` is the job's size (``None`` when unknown), ``own_resize`` whether the images are
    resized by extract_features itself (a DataLoader's own transform may give other sizes than
    the exported graph takes), ``amp`` whether autocast was asked for.
    """
    check_choice(backend)
    if backend == "torch":
        return None
    meta = getattr(model, "meta", None)
    if backend != "auto":
        if meta is None:
            raise ReidError(f"backend {backend!r} runs exported zoo models; {type(model).__name__} has no meta "
                            "(use backend='torch')")
        if not own_resize or tuple(input_size) != tuple(meta.input_size):
            raise ReidError(f"backend {backend!r} runs the model at its input size {tuple(meta.input_size)}; "
                            "give records or paths without another input_size, or use backend='torch'")
        return _runner(model, backend, device)
    if (device.type != "cpu" or amp or meta is None or not own_resize
            or tuple(input_size) != tuple(meta.input_size) or images is None or images < AUTO_MIN_IMAGES):
        return None
    for name in CPU_ORDER:
        if not available(name):
            continue
        try:
            return _runner(model, name, device)
        except Exception as e:  # an export or parity failure: PyTorch still gives the right features
            warnings.warn(f"extract_features: {meta.name} not run with {name} ({e}); "
                          "falling back to the next backend", stacklevel=3)
    return None


def resolve(model: nn.Module, backend: str, device: torch.device, *, images: int, amp: bool = False) -> str:
    """The backend a job of ``images`` images at the model's input size runs on: ``backend``
    itself, or for ``"auto"`` what :func:`exported_runner` picks (``"torch"`` when none).

    Jobs split in parts (shards) resolve once, so that every part runs on the same backend.
    """
    runner = exported_runner(model, backend, device, images=images, input_size=tuple(model.meta.input_size),
                             own_resize=True, amp=amp)
    return runner.backend if runner is not None else "torch"


def _runner(model: nn.Module, backend: str, device: torch.device) -> Runner:
    from .artifacts import weights_digest
    from .embedder import Embedder

    key = (backend, str(device), weights_digest(model))
    cache = _built.setdefault(model, {})
    if key not in cache:
        embed = Embedder(model, backend=backend, device=device)
        engine = embed.backend
        cache.clear()  # older weights of this model are not run again
        cache[key] = Runner(backend, lambda x, c: engine(np.ascontiguousarray(x), c), embed.parity.summary())
    return cache[key]


def run_batch(runner: Runner, images: torch.Tensor, camids: torch.Tensor, flip: bool) -> torch.Tensor:
    """Features of a float batch ``[B, 3, H, W]`` in [0, 1] (and of its mirror when ``flip``)."""
    x = images.float().cpu().numpy()
    cams = camids.cpu().numpy().astype(np.int64)
    out = runner.run(x, cams)
    if flip:
        out = (out + runner.run(x[..., ::-1], cams)) / 2
    return torch.from_numpy(np.asarray(out, dtype=np.float32))
