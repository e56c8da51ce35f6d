"""Deployment: export a model to ONNX or TorchScript, then check the file against PyTorch.

```python
import reid_core
from reid_core.export import export

model = reid_core.load("osnet_x1_0_dpr", "market1501")
result = export(model, "osnet.onnx", dynamic_batch=True)
print(result.summary())   # the largest relative error at batch 1, 4 and 17
```

The exported graph takes float images ``[B, 3, H, W]`` in [0, 1] (named ``images``; the model's
normalization is inside the graph) and returns ``features`` ``[B, D]`` (float32). Camera-aware
models (TransReID's SIE) take zero-based int64 ``camids`` ``[B]`` as a second input.

Every export is checked before it is written in place: the file is run (ONNX: with onnxruntime;
TorchScript: with ``torch.jit.load``) on random images and compared with the PyTorch model at
batch sizes 1, 4 and 17, because an exported graph that silently bakes in the batch size of the
example input gives wrong embeddings for other batches. The error measured is, per image,
``|exported - pytorch| / |pytorch|`` (L2 norms); it must stay within ``1e-4`` (``1e-2`` with
``fp16=True``, which is compared with the float32 model). A failed check raises
:class:`ExportError` and leaves no file behind.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import ReidError

FORMATS = ("onnx", "torchscript")
CHECK_BATCH_SIZES = (1, 4, 17)
TOLERANCE = 1e-4
FP16_TOLERANCE = 1e-2
# ONNX protobufs cannot exceed 2 GiB; larger models keep their weights in a side file.
_PROTOBUF_LIMIT = 2**31 - 2**26


class ExportError(ReidError):
    """An export that failed, or whose output does not match the PyTorch model."""


@dataclasses.dataclass
class ExportCheck:
    """How closely an exported file reproduces the PyTorch model."""

    errors: dict[int, float]  #: batch size -> largest per-image relative error
    tolerance: float  #: the largest error accepted

    @property
    def ok(self) -> bool:
        """Whether every batch size is within the tolerance."""
        return all(np.isfinite(e) and e <= self.tolerance for e in self.errors.values())

    def summary(self) -> str:
        """``batch 1: 2.1e-07, batch 4: 2.3e-07 (tolerance 1e-04)``."""
        parts = ", ".join(f"batch {b}: {e:.1e}" for b, e in self.errors.items())
        return f"{parts} (tolerance {self.tolerance:.0e})"


@dataclasses.dataclass
class ExportResult:
    """What was exported, where, and how it checked out."""

    path: Path  #: the written file
    format: str  #: ``"onnx"`` or ``"torchscript"``
    inputs: list[str]  #: input names: ``["images"]`` or ``["images", "camids"]``
    dynamic_batch: bool  #: whether any batch size is accepted
    fp16: bool  #: whether weights and compute are float16
    check: ExportCheck | None  #: the check's result (``None`` when ``check=False``)

    def summary(self) -> str:
        """One line for the command line."""
        size = self.path.stat().st_size / 2**20 if self.path.exists() else 0.0
        batch = "dynamic batch" if self.dynamic_batch else "fixed batch"
        precision = "fp16" if self.fp16 else "fp32"
        checked = f"; checked against PyTorch: {self.check.summary()}" if self.check else ""
        return f"{self.path} ({self.format}, {precision}, {batch}, inputs {', '.join(self.inputs)}, {size:.1f} MiB){checked}"


class ExportWrapper(nn.Module):
    """The model's eval forward with the exported signature: ``(images[, camids]) -> features``.

    With ``fp16`` the wrapped model is expected in float16; images are cast on the way in and
    features back to float32 on the way out, so the file's inputs and outputs stay float32.
    """

    def __init__(self, model: nn.Module, *, fp16: bool = False) -> None:
        super().__init__()
        self.model = model
        self.fp16 = fp16
        meta = getattr(model, "meta", None)
        self.camera_aware = bool(meta is not None and meta.camera_aware)

    def forward(self, images: torch.Tensor, camids: torch.Tensor | None = None) -> torch.Tensor:
        """Features ``[B, D]`` (float32) of images ``[B, 3, H, W]`` in [0, 1]."""
        x = images.half() if self.fp16 else images
        out = self.model(x, camids=camids) if self.camera_aware else self.model(x)
        return out.float()


def camera_count(model: nn.Module) -> int:
    """Cameras a camera-aware model has embeddings for (rows of its ``meta.camera_key``), else 1."""
    meta = getattr(model, "meta", None)
    key = getattr(meta, "camera_key", None)
    if key:
        state = model.state_dict()
        if key in state:
            return int(state[key].shape[0])
    return 1


def _inputs(model: nn.Module, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    meta = getattr(model, "meta", None)
    size = tuple(meta.input_size) if meta is not None else (256, 128)
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, *size, generator=gen)
    if meta is not None and meta.camera_aware:
        return images, torch.randint(0, camera_count(model), (batch,), generator=gen)
    return (images,)


def _device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def _relative_errors(got: np.ndarray, ref: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return float("inf")
    diff = np.linalg.norm(got - ref, axis=1)
    scale = np.maximum(np.linalg.norm(ref, axis=1), 1e-12)
    return float(np.max(diff / scale))


@torch.no_grad()
def _reference(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    wrapper = ExportWrapper(model).eval()
    device = _device(model)
    return wrapper(*(t.to(device) for t in inputs)).cpu().numpy()


def check_onnx(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    batch_sizes: Sequence[int] = CHECK_BATCH_SIZES,
    tolerance: float = TOLERANCE,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    seed: int = 0,
) -> ExportCheck:
    """Run an exported ONNX file with onnxruntime and compare with ``model`` (float32, eval mode)."""
    ort = _require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=list(providers))
    names = [i.name for i in session.get_inputs()]
    errors = {}
    for b in batch_sizes:
        inputs = _inputs(model, b, seed + b)
        ref = _reference(model, inputs)
        feeds = {n: t.numpy() for n, t in zip(names, inputs)}
        try:
            got = session.run(None, feeds)[0]
        except Exception as e:  # onnxruntime raises its own types for shape mismatches
            raise ExportError(f"{path}: onnxruntime failed at batch size {b}: {e}") from e
        errors[b] = _relative_errors(got, ref)
    return ExportCheck(errors, tolerance)


def check_torchscript(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    batch_sizes: Sequence[int] = CHECK_BATCH_SIZES,
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> ExportCheck:
    """Load a TorchScript file and compare it with ``model`` (float32, eval mode)."""
    device = _device(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
        scripted = torch.jit.load(str(path), map_location=device)
    errors = {}
    with torch.no_grad():
        for b in batch_sizes:
            inputs = _inputs(model, b, seed + b)
            ref = _reference(model, inputs)
            got = scripted(*(t.to(device) for t in inputs)).float().cpu().numpy()
            errors[b] = _relative_errors(got, ref)
    return ExportCheck(errors, tolerance)


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"ONNX export needs {module}: install the export extra with `pip install \"reid-core[export]\"`"
        ) from e


def _prepare(model: nn.Module, fp16: bool) -> ExportWrapper:
    target = copy.deepcopy(model).eval()
    if fp16:
        target = target.half()
    return ExportWrapper(target, fp16=fp16).eval()


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")


def _finish(tmp: Path, path: Path, check: ExportCheck | None, what: str) -> None:
    if check is not None and not check.ok:
        tmp.unlink(missing_ok=True)
        raise ExportError(
            f"{what} does not reproduce the PyTorch model: {check.summary()}. The graph may depend on "
            "the example batch size; export with dynamic_batch=True (--dynamic-batch), or report the model"
        )
    os.replace(tmp, path)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    dynamic_batch: bool = False,
    fp16: bool = False,
    batch_size: int = 1,
    opset: int | None = None,
    check: bool = True,
    batch_sizes: Sequence[int] = CHECK_BATCH_SIZES,
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> ExportResult:
    """Export ``model`` to ONNX with ``torch.onnx.export`` (the ``torch.export``-based exporter).

    Args:
        model: a reid-zoo model (left unchanged: a copy is exported).
        path: the ``.onnx`` file to write.
        dynamic_batch: accept any batch size; otherwise the graph is fixed at ``batch_size``.
        fp16: float16 weights and compute (inputs and outputs stay float32).
        batch_size: the batch size of a fixed-batch graph.
        opset: ONNX opset (default: the exporter's).
        check: compare with PyTorch before writing the file (see the module docs).
        batch_sizes: where to check a dynamic-batch graph (a fixed one is checked at ``batch_size``).
        providers: onnxruntime execution providers for the check.
    """
    _require("onnx")
    if batch_size < 1:
        raise ValueError(f"export_onnx: batch_size must be at least 1, got {batch_size}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _prepare(model, fp16)
    # torch.export specializes a dimension of size 1, so a dynamic batch is traced with 2 images.
    example = tuple(t.to(_device(wrapper)) for t in _inputs(model, 2 if dynamic_batch else batch_size, seed=1234))
    names = ["images", "camids"][: len(example)]
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=65536)
        dynamic_shapes = {name: {0: batch} for name in names}
    params = sum(p.numel() * p.element_size() for p in wrapper.parameters())
    tmp = _tmp_path(path)
    what = f"the ONNX export of {getattr(getattr(model, 'meta', None), 'name', type(model).__name__)}"
    try:
        # the exporter reports progress on stdout and warns about naming details; keep the CLI quiet
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                wrapper,
                example,
                str(tmp),
                input_names=names,
                output_names=["features"],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                external_data=params > _PROTOBUF_LIMIT,
                verbose=False,
            )
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{what} failed: {type(e).__name__}: {e}") from e
    result = None
    if check:
        sizes = tuple(batch_sizes) if dynamic_batch else (batch_size,)
        result = check_onnx(tmp, model, batch_sizes=sizes, tolerance=FP16_TOLERANCE if fp16 else TOLERANCE, providers=providers)
    _finish(tmp, path, result, what)
    return ExportResult(path, "onnx", names, dynamic_batch, fp16, result)


def export_torchscript(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    fp16: bool = False,
    batch_size: int = 1,
    check: bool = True,
    batch_sizes: Sequence[int] = CHECK_BATCH_SIZES,
) -> ExportResult:
    """Export ``model`` to TorchScript with ``torch.jit.trace`` and check it at every batch size.

    A traced graph has no fixed batch size of its own, but Python code that reads a tensor's
    size can bake the example's size in; the check at ``batch_sizes`` finds that out.

    Args:
        model: a reid-zoo model (left unchanged: a copy is traced).
        path: the ``.pt`` file to write.
        fp16: float16 weights and compute (inputs and outputs stay float32); needs a device
            with float16 kernels for the check (a GPU).
        batch_size: batch size of the example input.
        check: compare with PyTorch before writing the file.
        batch_sizes: where to check.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _prepare(model, fp16)
    example = tuple(t.to(_device(wrapper)) for t in _inputs(model, batch_size, seed=1234))
    names = ["images", "camids"][: len(example)]
    tmp = _tmp_path(path)
    what = f"the TorchScript export of {getattr(getattr(model, 'meta', None), 'name', type(model).__name__)}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about Python control flow; the check decides
            traced = torch.jit.trace(wrapper, example, check_trace=False)
            torch.jit.save(traced, str(tmp))
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{what} failed: {type(e).__name__}: {e}") from e
    result = None
    if check:
        result = check_torchscript(tmp, model, batch_sizes=batch_sizes, tolerance=FP16_TOLERANCE if fp16 else TOLERANCE)
    _finish(tmp, path, result, what)
    return ExportResult(path, "torchscript", names, True, fp16, result)


def export(model: nn.Module, path: str | os.PathLike, format: str = "onnx", **kwargs: Any) -> ExportResult:
    """Export to ``format`` (``"onnx"`` or ``"torchscript"``); see :func:`export_onnx` and :func:`export_torchscript`."""
    if format == "onnx":
        return export_onnx(model, path, **kwargs)
    if format == "torchscript":
        kwargs.pop("dynamic_batch", None)  # a traced graph takes any batch size; the check proves it
        return export_torchscript(model, path, **kwargs)
    raise ValueError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
