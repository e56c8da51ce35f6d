"""Exported graphs, cached next to the weights and keyed by what they were made from.

A file is made once per (model, weights, input size, batch mode, precision) and reused: the key
holds the model name, a digest of the state dict, the input size, ``dyn`` (every export takes any
batch size) and the precision. They live in ``$REID_HOME/checkpoints/exported/``, beside the
downloaded weights, and are written under a lock, to a temporary name, then renamed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torch import nn

from ..export import export_onnx
from ..hub import checkpoint_dir


def weights_digest(model: nn.Module) -> str:
    """sha256 of the state dict's names, shapes and values: the weights' identity, whatever file they came from."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        t = value.detach().cpu().contiguous().reshape(-1)  # 0-d tensors (BN counters) cannot be viewed as bytes
        h.update(f"{key}:{tuple(value.shape)}:{t.dtype}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def exported_dir() -> Path:
    """Where exported graphs and engines are cached."""
    return checkpoint_dir() / "exported"


def artifact_path(model: nn.Module, precision: str, suffix: str, *, digest: str | None = None,
                  extra: str = "") -> Path:
    """The cache file of ``model``'s export at ``precision``."""
    meta = getattr(model, "meta", None)
    name = meta.name if meta is not None else type(model).__name__
    h, w = meta.input_size if meta is not None else (256, 128)
    digest = digest or weights_digest(model)
    tail = f"-{extra}" if extra else ""
    return exported_dir() / f"{name}-{digest[:16]}-{h}x{w}-dyn-{precision}{tail}{suffix}"


def onnx_file(model: nn.Module, precision: str, *, digest: str | None = None,
              calibration: Iterable[np.ndarray] | None = None, calibration_key: str = "synthetic") -> Path:
    """The cached ONNX file of ``model`` (exported and checked against PyTorch on first use).

    ``fp16`` is a float16 export; ``int8`` the fp32 export statically quantized (per-channel
    weights, QDQ format) with ONNX Runtime's quantizer, calibrated on ``calibration`` batches.
    """
    digest = digest or weights_digest(model)
    fp = precision if precision in ("fp32", "fp16") else "fp32"
    path = artifact_path(model, fp, ".onnx", digest=digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            export_onnx(model, path, dynamic_batch=True, fp16=fp == "fp16")
    if precision != "int8":
        return path
    qpath = artifact_path(model, "int8", ".onnx", digest=digest, extra=calibration_key)
    with FileLock(str(qpath) + ".lock"):
        if not qpath.is_file():
            if calibration is None:
                raise ValueError("int8 needs calibration batches")
            quantize_int8(path, qpath, calibration)
    return qpath


class _Batches:
    """ONNX Runtime's calibration reader over float batches ``[B, 3, H, W]`` (and camids)."""

    def __init__(self, batches: Iterable[np.ndarray], camera_aware: bool) -> None:
        self._it = iter(batches)
        self.camera_aware = camera_aware

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        if batch is None:
            return None
        feeds = {"images": np.ascontiguousarray(batch, dtype=np.float32)}
        if self.camera_aware:
            feeds["camids"] = np.zeros(len(batch), dtype=np.int64)
        return feeds


def quantize_int8(src: Path, dst: Path, calibration: Iterable[np.ndarray]) -> None:
    """Static int8 quantization of ``src`` into ``dst`` (QDQ, per-channel weights, min-max calibration)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    camera_aware = any(i.name == "camids" for i in onnx.load(str(src), load_external_data=False).graph.input)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}.onnx")
    prepared = dst.with_name(f".{dst.name}.pre{os.getpid()}.onnx")
    try:
        # shape inference and graph clean-up first, as ONNX Runtime's quantizer asks for
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        source = prepared
    except Exception:  # a graph the pre-processor cannot handle is still quantizable as it is
        source = src
    try:
        quantize_static(
            str(source), str(tmp), _Batches(calibration, camera_aware),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
        prepared.unlink(missing_ok=True)


def engine_path(model: nn.Module, precision: str, device: torch.device, *, digest: str | None = None) -> Path:
    """The cached TensorRT engine: engines are specific to a GPU model and a TensorRT version."""
    import tensorrt as trt

    gpu = torch.cuda.get_device_name(device).replace(" ", "_")
    return artifact_path(model, precision, ".engine", digest=digest, extra=f"{gpu}-trt{trt.__version__}")


def calibration_batches(images: Sequence[Any] | None, input_size: tuple[int, int], *, count: int = 128,
                        batch_size: int = 16) -> list[np.ndarray]:
    """Float batches for int8 calibration: the given images (paths or arrays), or the synthetic set's training images."""
    from .embedder import load_images  # the same preprocessing as at inference

    if images is None:
        from ..data.synthetic import synthetic

        images = [r.path for r in synthetic(num_ids=50).train]
    picked = list(images)[:count]
    if not picked:
        raise ValueError("int8 calibration needs at least one image")
    return [load_images(picked[i : i + batch_size], input_size) for i in range(0, len(picked), batch_size)]
