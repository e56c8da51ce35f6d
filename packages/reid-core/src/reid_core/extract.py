"""Feature extraction: images in, one feature vector per image out.

```python
feats = reid_core.extract_features(model, dataset.query)   # Features(feats, pids, camids, paths)
score = reid_core.similarity(model, "a.jpg", "b.jpg")      # cosine similarity of two crops
```

Images are decoded with ``torchvision.io`` in DataLoader workers and resized there as uint8, so
that a GPU receives four times fewer bytes; they become float in [0, 1] on the device. The model
runs in ``channels_last``; on CUDA under fp16 autocast, and JPEG files can instead be decoded on
the GPU in batches (``decode="cuda"``). On a CPU, large jobs run on an exported backend when one
is installed and passes parity (see :mod:`reid_core.deploy.auto`).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .data.base import Record
from .data.image_dataset import (
    _DEPRECATION,
    EncodedDataset,
    ImageDataset,
    collate_encoded,
    read_image,
)
from .data.transforms import eval_transforms
from .errors import DatasetError

JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclasses.dataclass
class Features:
    """Features of a set of images, in the order of the images."""

    feats: torch.Tensor  #: float32 ``[N, D]`` on the CPU
    pids: torch.Tensor  #: int64 ``[N]``
    camids: torch.Tensor  #: int64 ``[N]``
    paths: list[str]  #: the image files
    #: what ran the model: ``"torch"`` or an exported backend (not saved)
    backend: str = dataclasses.field(default="torch", compare=False)

    def __len__(self) -> int:
        return len(self.paths)

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` archive with the arrays ``feats``, ``pids``, ``camids`` and ``paths``.

        The file is written under a temporary name and renamed, so a reader never sees half of it.
        """
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                feats=self.feats.numpy(),
                pids=self.pids.numpy(),
                camids=self.camids.numpy(),
                paths=np.asarray(self.paths, dtype=np.str_),
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Features:
        """Read a file written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                torch.from_numpy(z["feats"]),
                torch.from_numpy(z["pids"]).long(),
                torch.from_numpy(z["camids"]).long(),
                [str(p) for p in z["paths"]],
            )


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _input_size(model: nn.Module, input_size: tuple[int, int] | None) -> tuple[int, int]:
    if input_size is not None:
        return tuple(input_size)
    meta = getattr(model, "meta", None)
    return tuple(meta.input_size) if meta is not None else (256, 128)


def _flip(model: nn.Module, flip: bool | None) -> bool:
    if flip is not None:
        return bool(flip)
    return bool(getattr(getattr(model, "meta", None), "test_flip", False))


def _camera_aware(model: nn.Module) -> bool:
    meta = getattr(model, "meta", None)
    return bool(meta is not None and meta.camera_aware)


def _default_workers() -> int:
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _as_records(data: Iterable[Any]) -> list[Record]:
    out = []
    for item in data:
        if isinstance(item, (str, os.PathLike)):
            out.append(Record(str(item), -1, 0))
        else:
            path, pid, camid = item
            out.append(Record(str(path), int(pid), int(camid)))
    return out


def _batches(
    data: Any, size: tuple[int, int], batch_size: int, num_workers: int, decode_on: str, device: torch.device
) -> tuple[Iterable[dict[str, Any]], int | None, bool]:
    """Batches of ``{"image", "pid", "camid", "path"}``, their number, and whether images are still encoded."""
    if decode_on == "cuda" and isinstance(data, (DataLoader, ImageDataset)):
        raise ValueError("extract_features: decode='cuda' takes records or paths, not a DataLoader or ImageDataset")
    if isinstance(data, DataLoader):
        return data, len(data) if hasattr(data, "__len__") else None, False
    if isinstance(data, ImageDataset):
        records, transform = data.records, data.transform
    elif isinstance(data, Dataset):
        raise TypeError(
            "extract_features: give records, a reid_core ImageDataset or a DataLoader that yields dicts "
            f"with 'image', 'pid', 'camid' and 'path', not a {type(data).__name__}"
        )
    else:
        records, transform = _as_records(data), None
    if not records:
        raise DatasetError("extract_features: no images to extract")
    pin = device.type == "cuda"
    encoded = decode_on == "cuda"
    if encoded:
        ds: Dataset = EncodedDataset(records)
        collate = collate_encoded
    else:
        ds = ImageDataset(records, transform if transform is not None else eval_transforms(size, to_float=False))
        collate = None
    loader = DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(num_workers, -(-len(records) // batch_size)),  # no idle workers to start
        pin_memory=pin,
        collate_fn=collate,
        persistent_workers=False,
    )
    return loader, len(loader), encoded


def _decode_on_gpu(data: list[torch.Tensor], paths: Sequence[str], size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """Decode a batch of JPEG files with nvjpeg and resize them on the GPU (uint8 ``[B, 3, H, W]``)."""
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import functional as TF

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DEPRECATION, category=DeprecationWarning)
            images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        # find the file that broke the batch, so that the error can name it
        images = []
        for d, p in zip(data, paths):
            try:
                images.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=device))
            except RuntimeError as e:
                raise DatasetError(f"cannot decode image {p}: {e}") from e
    out = torch.empty((len(images), 3, *size), dtype=torch.uint8, device=device)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(tuple(im.shape), []).append(i)
    for idx in by_shape.values():
        out[idx] = TF.resize(torch.stack([images[i] for i in idx]), list(size), antialias=True)
    return out


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255) if images.dtype == torch.uint8 else images.float()


@torch.no_grad()
def extract_features(
    model: nn.Module,
    data: Any,
    *,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    flip: bool | None = None,
    num_workers: int | None = None,
    decode: str = "cpu",
    input_size: tuple[int, int] | None = None,
    progress: bool = True,
    desc: str = "extract",
    backend: str = "auto",
) -> Features:
    """Run ``model`` in eval mode over images and collect their features.

    Args:
        model: a reid-zoo model (or any module taking ``[B, 3, H, W]`` images in [0, 1]).
        data: records ``(path, pid, camid)`` (e.g. ``dataset.query``), image paths, an
            :class:`~reid_core.data.ImageDataset`, or a DataLoader yielding dicts with ``image``,
            ``pid``, ``camid`` and ``path`` (images uint8, or float in [0, 1]).
        batch_size: images per forward pass.
        device: where to run; by default where the model is. The model is moved there.
        amp: fp16 autocast; by default on for CUDA, off elsewhere.
        flip: average the features of each image and of its horizontal mirror; default the
            model's ``meta.test_flip`` (the setting its weights were tested with).
        num_workers: DataLoader workers decoding images (default: up to 8, one per CPU core).
        decode: ``"cpu"`` (in the workers) or ``"cuda"`` (JPEG files only, batched on the GPU).
        input_size: (H, W) to resize to; default the model's ``input_size`` (the size its
            weights were trained at). A size other than that gives a warning naming both.
        progress: show a tqdm progress bar.
        desc: label of the progress bar.
        backend: what runs the model: ``"torch"``, an exported backend (``"onnxruntime"``,
            ``"openvino"``, ``"tensorrt"``; see :class:`reid_core.deploy.Embedder`), or ``"auto"``:
            on a CPU, for a zoo model and a job of at least
            :data:`~reid_core.deploy.auto.AUTO_MIN_IMAGES` images at the model's input size, the
            fastest installed exported backend whose features pass the parity check against
            PyTorch; PyTorch otherwise. ``Features.backend`` says which ran.

    Camera-aware models (``model.meta.camera_aware``) receive the records' camids. The model
    is converted to ``channels_last`` (in place: the weights' values do not change), the faster
    layout for convolutions on CPUs and GPUs alike. The model is put back in training mode
    afterwards if it was in it.
    """
    from .deploy.auto import check_choice, exported_runner, run_batch

    check_choice(backend)
    device = torch.device(device) if device is not None else _model_device(model)
    if decode not in ("cpu", "cuda"):
        raise ValueError(f"extract_features: decode must be 'cpu' or 'cuda', got {decode!r}")
    if decode == "cuda" and device.type != "cuda":
        raise ValueError("extract_features: decode='cuda' needs a CUDA device")
    use_amp = (device.type == "cuda") if amp is None else bool(amp)
    size = _input_size(model, input_size)
    flip = _flip(model, flip)
    if not isinstance(data, (DataLoader, ImageDataset)) or decode == "cuda":  # else the data's own transform sizes
        from .pretrained import check_input_size

        check_input_size(model, input_size)
    workers = _default_workers() if num_workers is None else num_workers
    batches, total, encoded = _batches(data, size, batch_size, workers, decode, device)
    if encoded:
        paths_all = [r.path for r in batches.dataset.records]  # type: ignore[attr-defined]
        if not all(p.lower().endswith(JPEG_SUFFIXES) for p in paths_all):
            raise ValueError("extract_features: decode='cuda' decodes JPEG files only; use decode='cpu'")

    # whether the images reach the model resized here, at ``size`` (a DataLoader's or a dataset's
    # own transform may give any size)
    own_resize = not encoded and (not isinstance(data, (DataLoader, ImageDataset)) or
                                  isinstance(data, ImageDataset) and data.transform is None)
    was_training = model.training
    camera_aware = _camera_aware(model)
    feats, pids, camids, paths = [], [], [], []
    try:
        runner = exported_runner(model, backend, device, images=_count(data), input_size=size,
                                 own_resize=own_resize, amp=use_amp)
        model.eval().to(device).to(memory_format=torch.channels_last)
        for batch in tqdm(_iter(batches), total=total, desc=desc, unit="batch", disable=not progress, leave=False):
            batch_paths = list(batch["path"])
            if encoded:
                images = _decode_on_gpu(batch["image"], batch_paths, size, device)
            else:
                images = batch["image"].to(device, non_blocking=True)
            images = _to_float(images)
            cams = torch.as_tensor(batch["camid"]).long()
            if runner is not None:
                feats.append(run_batch(runner, images, cams, flip))
            else:
                feats.append(_run_torch(model, images, cams if camera_aware else None, flip, use_amp))
            pids.append(torch.as_tensor(batch["pid"]).long())
            camids.append(cams)
            paths.extend(str(p) for p in batch_paths)
    finally:
        model.train(was_training)
    if not feats:
        raise DatasetError("extract_features: the loader yielded no batches")
    used = runner.backend if runner is not None else "torch"
    return Features(torch.cat(feats), torch.cat(pids), torch.cat(camids), paths, backend=used)


def _run_torch(model: nn.Module, images: torch.Tensor, camids: torch.Tensor | None, flip: bool, amp: bool) -> torch.Tensor:
    images = images.contiguous(memory_format=torch.channels_last)
    kwargs = {"camids": camids.to(images.device)} if camids is not None else {}
    dtype = torch.float16 if images.device.type == "cuda" else torch.bfloat16
    with torch.autocast(images.device.type, dtype=dtype, enabled=amp):
        out = model(images, **kwargs)
        if flip:
            out = (out + model(images.flip(-1), **kwargs)) / 2
    return out.float().cpu()


def _count(data: Any) -> int | None:
    try:
        return len(data.dataset) if isinstance(data, DataLoader) else len(data)
    except TypeError:
        return None


def _iter(batches: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for b in batches:
        if isinstance(b, dict):
            yield b
        elif isinstance(b, (list, tuple)) and len(b) >= 3:
            images, pids, camids = b[:3]
            paths = b[3] if len(b) > 3 else [""] * len(images)
            yield {"image": images, "pid": pids, "camid": camids, "path": paths}
        else:
            raise TypeError(
                "extract_features: a DataLoader must yield dicts with 'image', 'pid', 'camid', 'path' "
                f"or tuples (images, pids, camids[, paths]); got {type(b).__name__}"
            )


def _as_image(x: Any, size: tuple[int, int]) -> torch.Tensor:
    if isinstance(x, (str, os.PathLike)):
        x = read_image(Path(x))
    elif not isinstance(x, torch.Tensor):
        x = torch.from_numpy(np.array(x)).permute(2, 0, 1)  # PIL images and HxWx3 arrays (a copy: PIL's is read-only)
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"similarity: expected an image [3, H, W] (or a path, a PIL image), got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:  # resize in float either way, so a file and its float tensor agree
        x = x.float() / 255
    return F.interpolate(x[None].float(), size=size, mode="bilinear", antialias=True)[0]


@torch.no_grad()
def similarity(
    model: nn.Module,
    image_a: Any,
    image_b: Any,
    *,
    camid_a: int = 0,
    camid_b: int = 0,
    flip: bool | None = None,
) -> float:
    """Cosine similarity of the features of two person crops, in [-1, 1]: are they the same person?

    Images may be paths, PIL images, uint8 ``[3, H, W]`` tensors or float ones in [0, 1]; they
    are resized to the model's input size. Camids only matter for camera-aware models. Where to
    draw the line between "same" and "different" depends on the model: calibrate it on pairs
    of your own data (e.g. with :func:`reid_core.evaluation.roc_at_fpr`). ``flip`` defaults to
    the model's ``meta.test_flip``.
    """
    size = _input_size(model, None)
    flip = _flip(model, flip)
    device = _model_device(model)
    images = torch.stack([_as_image(image_a, size), _as_image(image_b, size)]).to(device)
    was_training = model.training
    model.eval()
    try:
        kwargs = {"camids": torch.tensor([camid_a, camid_b], device=device)} if _camera_aware(model) else {}
        feats = model(images, **kwargs)
        if flip:
            feats = (feats + model(images.flip(-1), **kwargs)) / 2
    finally:
        model.train(was_training)
    feats = F.normalize(feats.float(), dim=1)
    return float((feats[0] * feats[1]).sum())
