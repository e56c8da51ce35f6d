"""The backend :func:`reid_core.extract_features` runs a model with.

``backend="auto"`` (the default) on a CPU builds every installed backend of :data:`CPU_ORDER`,
keeps those whose features pass the parity check against PyTorch
(:class:`~reid_core.deploy.Parity`, fp32 bound), times each on a probe batch, and runs the
fastest. Which one wins depends on the model: ONNX Runtime on OSNet's depthwise convolutions,
OpenVINO on ResNets and ViTs (docs/deployment.md has the numbers). This happens for zoo models
and jobs of at least :data:`AUTO_MIN_IMAGES` images: exporting a model costs seconds to a minute
once (the file is cached), which a short job would not win back. Anything else runs in PyTorch,
in ``channels_last``. A backend that cannot export the model or misses parity is reported in a
warning and skipped, never used.

The backends built here are kept per model and weights digest for the life of the model, so a
query set and a gallery set pay the check and the timing once.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
import weakref
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ReidError
from .artifacts import weights_digest
from .backends import BACKENDS, available

#: exported backends ``auto`` tries on a CPU (the fastest of them runs)
CPU_ORDER = ("onnxruntime", "openvino")
#: images in the batch each candidate backend is timed on
PROBE_BATCH = 8
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
    seconds: float  #: the best of two runs on a probe batch of :data:`PROBE_BATCH` images


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
        return _runner(model, backend, device, weights_digest(model))
    if (device.type != "cpu" or amp or meta is None or not own_resize
            or tuple(input_size) != tuple(meta.input_size) or images is None or images < AUTO_MIN_IMAGES):
        return None
    candidates = []
    digest = weights_digest(model)  # one pass over the weights for every candidate
    for name in CPU_ORDER:
        if not available(name):
            continue
        try:
            candidates.append(_runner(model, name, device, digest))
        except Exception as e:  # an export or parity failure: PyTorch still gives the right features
            warnings.warn(f"extract_features: {meta.name} not run with {name} ({e}); "
                          "it is left out of the choice", stacklevel=3)
    return min(candidates, key=lambda r: r.seconds, default=None)


def resolve(model: nn.Module, backend: str, device: torch.device, *, images: int, amp: bool = False) -> str:
    """The backend a job of ``images`` images at the model's input size runs on: ``backend``
    itself, or for ``"auto"`` what :func:`exported_runner` picks (``"torch"`` when none).

    Jobs split in parts (shards) resolve once, so that every part runs on the same backend.
    """
    runner = exported_runner(model, backend, device, images=images, input_size=tuple(model.meta.input_size),
                             own_resize=True, amp=amp)
    return runner.backend if runner is not None else "torch"


def _runner(model: nn.Module, backend: str, device: torch.device, digest: str) -> Runner:
    from .embedder import Embedder

    key = (backend, str(device), digest)
    cache = _built.setdefault(model, {})
    if key not in cache:
        for old in [k for k in cache if k[2] != digest]:  # older weights of this model are not run again
            del cache[old]
        embed = Embedder(model, backend=backend, device=device)
        engine = embed.backend

        def run(x: np.ndarray, camids: np.ndarray | None) -> np.ndarray:
            return engine(np.ascontiguousarray(x), camids)

        cache[key] = Runner(backend, run, embed.parity.summary(), _time(run, tuple(embed.input_size)))
    return cache[key]


def _time(run: Callable[[np.ndarray, np.ndarray | None], np.ndarray], input_size: tuple[int, int]) -> float:
    x = np.random.default_rng(0).random((PROBE_BATCH, 3, *input_size), dtype=np.float32)
    cams = np.zeros(PROBE_BATCH, dtype=np.int64)
    run(x, cams)  # warm-up: first-call allocations and kernel choices
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        run(x, cams)
        best = min(best, time.perf_counter() - t0)
    return best


def run_batch(runner: Runner, images: torch.Tensor, camids: torch.Tensor, flip: bool) -> torch.Tensor:
    """Features of a float batch ``[B, 3, H, W]`` in [0, 1] (and of its mirror when ``flip``)."""
    x = images.float().cpu().numpy()
    cams = camids.cpu().numpy().astype(np.int64)
    out = runner.run(x, cams)
    if flip:
        out = (out + runner.run(x[..., ::-1], cams)) / 2
    return torch.from_numpy(np.asarray(out, dtype=np.float32))
