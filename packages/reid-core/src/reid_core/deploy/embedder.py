"""``Embedder``: features from person crops or from a frame and its boxes, through a fast backend.

```python
from reid_core import Embedder
embed = Embedder("osnet_x1_0_dpr", dataset="market1501", backend="onnxruntime")
feats = embed(frame, boxes)           # frame: numpy HxWx3 (BGR, as OpenCV gives it), boxes: [N, 4] xyxy
feats = embed(["a.jpg", "b.jpg"])     # or crops: paths, PIL images, arrays, tensors
```

Crops go through the same resize as :func:`reid_core.extract_features` (bilinear with
antialiasing on the uint8 image, to the weights' input size), so a crop gives the same features
either way. When an Embedder is built, the backend is checked against the PyTorch model
(:class:`Parity`); one that misses its bound raises with the numbers.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.image_dataset import read_image
from ..data.transforms import eval_transforms
from ..errors import ReidError
from .backends import (
    BACKENDS,
    PRECISIONS,
    BackendError,
    OnnxRuntimeBackend,
    OpenVINOBackend,
    TensorRTBackend,
    TorchBackend,
    available,
    require,
)

#: the least cosine similarity to PyTorch's features each precision must keep on every check image
COSINE_BOUND = {"fp32": 0.9999, "fp16": 0.999, "int8": 0.95}
#: the largest mAP drop (fraction) on the synthetic set accepted for fp16 and int8
MAP_DROP_BOUND = 0.01


class ParityError(BackendError):
    """A backend whose features differ from PyTorch's by more than its precision allows."""


@dataclasses.dataclass
class Parity:
    """How the backend's features compare with the PyTorch model's."""

    backend: str
    precision: str
    min_cosine: float  #: the least cosine similarity over the check images
    mean_cosine: float
    images: int  #: images compared
    map_torch: float | None = None  #: mAP on the synthetic set with PyTorch (fp16/int8 only)
    map_backend: float | None = None  #: the same with the backend

    @property
    def map_delta(self) -> float | None:
        """Backend mAP minus PyTorch mAP (fraction; negative is a drop)."""
        if self.map_torch is None or self.map_backend is None:
            return None
        return self.map_backend - self.map_torch

    def summary(self) -> str:
        """One line with the numbers."""
        text = (f"{self.backend} {self.precision}: cosine to PyTorch min {self.min_cosine:.6f}, "
                f"mean {self.mean_cosine:.6f} over {self.images} images")
        if self.map_delta is not None:
            text += (f"; synthetic mAP {100 * self.map_backend:.2f} vs PyTorch {100 * self.map_torch:.2f} "
                     f"({100 * self.map_delta:+.2f} points)")
        return text


def load_images(images: Sequence[Any], input_size: tuple[int, int], colour: str = "rgb") -> np.ndarray:
    """Float32 ``[B, 3, H, W]`` in [0, 1] from paths, PIL images, HxWx3 uint8 arrays or uint8 [3, H, W] tensors.

    ``colour`` is the channel order of numpy arrays (``"bgr"`` for OpenCV's); paths, PIL images
    and tensors are RGB.
    """
    resize = eval_transforms(tuple(input_size), to_float=False)
    out = np.empty((len(images), 3, *input_size), dtype=np.float32)
    for i, image in enumerate(images):
        out[i] = resize(_as_chw_uint8(image, colour, f"image {i}")).numpy().astype(np.float32) / 255.0
    return out


def _as_chw_uint8(image: Any, colour: str, what: str) -> torch.Tensor:
    if isinstance(image, (str, os.PathLike)):
        return read_image(Path(image))
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"{what}: expected a tensor [3, H, W], got {tuple(image.shape)}")
        if image.dtype != torch.uint8:
            raise ValueError(f"{what}: tensors must be uint8 [3, H, W] (0-255), got {image.dtype}; "
                             "for float images in [0, 1] multiply by 255 and round")
        return image
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{what}: expected an array HxWx3, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{what}: arrays must be uint8 HxWx3 (0-255), got {arr.dtype}")
    if colour == "bgr" and not hasattr(image, "mode"):  # PIL images are RGB whatever colour says
        arr = arr[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def crop_boxes(frame: Any, boxes: Any, colour: str) -> list[torch.Tensor]:
    """uint8 RGB crops ``[3, h, w]`` of ``frame`` at ``boxes`` (xyxy pixels), clipped to the frame.

    A box's edges are rounded outwards to whole pixels, so integer boxes crop exactly those pixels.
    """
    image = _as_chw_uint8(frame, colour, "frame")
    height, width = image.shape[1:]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(np.asarray(boxes)) else np.zeros((0, 4))
    if not np.isfinite(b).all():
        raise ValueError("boxes hold NaN or infinite coordinates")
    crops = []
    for i, (x1, y1, x2, y2) in enumerate(b):
        left, top = max(0, math.floor(x1)), max(0, math.floor(y1))
        right, bottom = min(width, math.ceil(x2)), min(height, math.ceil(y2))
        if right <= left or bottom <= top:
            raise ValueError(
                f"box {i} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) is empty inside the {width}x{height} frame "
                "(boxes are x1, y1, x2, y2 in pixels)"
            )
        crops.append(image[:, top:bottom, left:right])
    return crops


class Embedder:
    """A ReID model behind an inference backend, taking crops or a frame with boxes.

    Args:
        model_or_name: a reid-zoo model, or a zoo name to load.
        weights: a checkpoint file or URL (with a name).
        dataset: the catalogued weights to load (with a name).
        backend: ``"torch"``, ``"onnxruntime"``, ``"openvino"``, ``"tensorrt"`` or ``"auto"``:
            on a CPU the first installed of ONNX Runtime, OpenVINO, then PyTorch; on CUDA
            TensorRT when installed, else PyTorch.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` (static quantization, calibrated on
            ``calibration`` images, by default the synthetic set's training images).
        device: ``"cpu"`` or ``"cuda"``.
        input_size: (H, W); by default the weights' own.
        colour: channel order of numpy frames and crops: ``"bgr"`` (OpenCV, the default) or ``"rgb"``.
        check: compare with PyTorch when built (see :class:`Parity`); ``False`` skips it.
        batch_size: crops per backend call.
    """

    def __init__(self, model_or_name: nn.Module | str, *, weights: str | os.PathLike | None = None,
                 dataset: str | None = None, backend: str = "auto", precision: str = "fp32",
                 device: str | torch.device = "cpu", input_size: tuple[int, int] | None = None,
                 colour: str = "bgr", check: bool = True, calibration: Sequence[Any] | None = None,
                 batch_size: int = 32) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if colour not in ("bgr", "rgb"):
            raise ValueError(f"colour must be 'bgr' or 'rgb', got {colour!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device)
        self.model = _model(model_or_name, weights, dataset)
        if input_size is not None and tuple(input_size) != tuple(self.model.input_size):
            self.model.attach_meta(dataclasses.replace(self.model.meta, input_size=tuple(input_size)))
        self.input_size = tuple(self.model.input_size)
        self.camera_aware = bool(self.model.camera_aware)
        self.colour = colour
        self.precision = precision
        self.batch_size = batch_size
        self.backend_name = _choose(backend, self.device)
        if self.backend_name not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)} or 'auto', got {backend!r}")
        self._calibration = calibration
        self.backend = self._build_backend()
        self.parity: Parity | None = self.check() if check else None

    # -- building ---------------------------------------------------------------------------
    def _build_backend(self) -> Any:
        from . import artifacts

        name, precision = self.backend_name, self.precision
        if name == "tensorrt":  # refuse before exporting anything
            if self.device.type != "cuda" or not torch.cuda.is_available():
                raise BackendError("backend 'tensorrt' needs a CUDA GPU; on the CPU use 'onnxruntime' or 'openvino'")
            require("tensorrt", "tensorrt")
        if name == "openvino":
            require("openvino", "openvino")
        if name == "torch":
            return TorchBackend(self.model, self.device, precision)
        cpu_model = self.model.float().to("cpu").eval()
        digest = artifacts.weights_digest(cpu_model)
        calibration = None
        if precision == "int8":
            calibration = artifacts.calibration_batches(self._calibration, self.input_size)
        key = "synthetic" if self._calibration is None else _calibration_key(self._calibration)
        onnx_path = artifacts.onnx_file(cpu_model, precision, digest=digest, calibration=calibration,
                                        calibration_key=key)
        self.exported = onnx_path
        if name == "onnxruntime":
            return OnnxRuntimeBackend(onnx_path, self.device)
        if name == "openvino":
            if self.device.type != "cpu":
                raise BackendError("backend 'openvino' runs on the CPU here; use device='cpu'")
            return OpenVINOBackend(onnx_path, precision)
        engine = artifacts.engine_path(cpu_model, precision, self.device, digest=digest)
        return TensorRTBackend(onnx_path, engine, self.device, precision, self.input_size)

    # -- parity -----------------------------------------------------------------------------
    def check(self, images: Sequence[Any] | None = None, *, with_map: bool | None = None) -> Parity:
        """Compare the backend with the PyTorch model (fp32) and raise :class:`ParityError` past the bound.

        Cosine similarity per image over ``images`` (default: 32 crops of the synthetic set); for
        fp16 and int8 also the mAP of both on a small synthetic set (40 identities).
        """
        from ..data.synthetic import synthetic

        ds = synthetic(num_ids=40)
        crops = list(images) if images is not None else [r.path for r in (ds.query + ds.gallery)[::8][:32]]
        batch = load_images(crops, self.input_size)
        camids = np.zeros(len(batch), dtype=np.int64)
        reference = _torch_reference(self.model, batch, camids)
        got = self._run(batch, camids)
        cos = _cosine(got, reference)
        parity = Parity(self.backend_name, self.precision, float(cos.min()), float(cos.mean()), len(cos))
        if with_map if with_map is not None else self.precision != "fp32":
            parity.map_torch, parity.map_backend = self._map(ds)
        bound = COSINE_BOUND[self.precision]
        drop = parity.map_delta
        if parity.min_cosine < bound or (drop is not None and drop < -MAP_DROP_BOUND):
            raise ParityError(
                f"{self.model.name}: {parity.summary()}; the bound for {self.precision} is cosine >= {bound}"
                + (f" and an mAP drop of at most {100 * MAP_DROP_BOUND:.0f} point" if drop is not None else "")
                + ". Use another backend or precision, or check=False to accept it"
            )
        return parity

    def _map(self, ds: Any) -> tuple[float, float]:
        from ..evaluation import evaluate_features

        def feats(records: Sequence[Any], fn) -> np.ndarray:
            out = []
            for i in range(0, len(records), self.batch_size):
                part = records[i : i + self.batch_size]
                x = load_images([r.path for r in part], self.input_size)
                out.append(fn(x, np.asarray([r.camid for r in part], dtype=np.int64)))
            return np.concatenate(out)

        def labels(records: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
            return np.asarray([r.pid for r in records]), np.asarray([r.camid for r in records])

        (qp, qc), (gp, gc) = labels(ds.query), labels(ds.gallery)
        scores = []
        for fn in (lambda x, c: _torch_reference(self.model, x, c), self._run):
            q, g = feats(ds.query, fn), feats(ds.gallery, fn)
            scores.append(evaluate_features(q, g, qp, gp, qc, gc).mAP)
        return scores[0], scores[1]

    # -- running ----------------------------------------------------------------------------
    def _run(self, images: np.ndarray, camids: np.ndarray | None) -> np.ndarray:
        out = []
        for i in range(0, len(images), self.batch_size):
            cams = None if camids is None else camids[i : i + self.batch_size]
            out.append(self.backend(np.ascontiguousarray(images[i : i + self.batch_size]), cams))
        return np.concatenate(out) if out else np.zeros((0, self.model.feature_dim), dtype=np.float32)

    def __call__(self, images: Any, boxes: Any = None, *, camids: Any = None) -> np.ndarray:
        """Features ``[N, D]`` (float32) of crops, or of ``boxes`` in a frame.

        Args:
            images: a list of crops (paths, PIL images, uint8 HxWx3 arrays in ``colour`` order,
                uint8 [3, H, W] tensors), a float tensor ``[B, 3, H, W]`` in [0, 1] already at the
                input size, or, with ``boxes``, one frame.
            boxes: ``[N, 4]`` boxes ``x1, y1, x2, y2`` in pixels of the frame; parts outside the
                frame are clipped, a box with nothing inside raises ``ValueError``.
            camids: zero-based cameras, one per crop (camera-aware models require them).
        """
        if boxes is not None:
            crops: Any = crop_boxes(images, boxes, self.colour)
            if not crops:
                return np.zeros((0, self.model.feature_dim), dtype=np.float32)
            batch = load_images(crops, self.input_size)
        elif isinstance(images, torch.Tensor) and images.dim() == 4:
            if images.dtype != torch.float32 or tuple(images.shape[2:]) != self.input_size:
                raise ValueError(f"a batch tensor must be float32 [B, 3, {self.input_size[0]}, {self.input_size[1]}] "
                                 f"in [0, 1], got {images.dtype} {tuple(images.shape)}")
            batch = images.detach().cpu().numpy()
        else:
            batch = load_images(list(images), self.input_size, self.colour)
        if self.camera_aware and camids is None:
            raise ValueError(f"{self.model.name} is camera-aware: pass camids= (zero-based, one per crop)")
        cams = None
        if camids is not None:
            cams = np.asarray(camids, dtype=np.int64).reshape(-1)
            if len(cams) != len(batch):
                raise ValueError(f"got {len(cams)} camids for {len(batch)} crops")
        return self._run(batch, cams)

    def __repr__(self) -> str:
        h, w = self.input_size
        return f"Embedder({self.model.name}, backend={self.backend_name}, precision={self.precision}, input {h}x{w})"


def _model(model_or_name: nn.Module | str, weights: Any, dataset: str | None) -> nn.Module:
    if isinstance(model_or_name, nn.Module):
        return model_or_name.eval()
    from ..pretrained import load

    if weights is None and dataset is None:
        raise ReidError(f"Embedder({model_or_name!r}): give dataset= (catalogued weights) or weights=PATH")
    return load(model_or_name, dataset, weights=weights)


def _choose(backend: str, device: torch.device) -> str:
    if backend != "auto":
        return backend
    from .auto import CPU_ORDER

    order = ("tensorrt",) if device.type == "cuda" else CPU_ORDER
    return next((b for b in order if available(b)), "torch")


def _calibration_key(images: Sequence[Any]) -> str:
    import hashlib

    h = hashlib.sha256()
    for item in images:
        h.update(str(item).encode() if isinstance(item, (str, os.PathLike)) else np.asarray(item).tobytes())
    return "cal" + h.hexdigest()[:12]


@torch.no_grad()
def _torch_reference(model: nn.Module, images: np.ndarray, camids: np.ndarray) -> np.ndarray:
    device = next(iter(model.parameters()), torch.empty(0)).device
    kwargs = {"camids": torch.from_numpy(camids).to(device)} if model.camera_aware else {}
    return model.eval()(torch.from_numpy(images).to(device), **kwargs).float().cpu().numpy()


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
