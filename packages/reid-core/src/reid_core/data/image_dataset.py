"""Records as a ``torch.utils.data.Dataset``: images decoded with ``torchvision.io``."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_image, read_file

from ..errors import DatasetError
from .base import Record

# torchvision 0.29 announces that torchcodec will take over image decoding; until then its
# decoders are the ones this project uses, and the notice would be printed once per image
_DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"


def read_bytes(path: str | os.PathLike) -> torch.Tensor:
    """The raw bytes of an image file as a uint8 tensor (what ``decode_jpeg`` takes)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DEPRECATION, category=DeprecationWarning)
            return read_file(str(path))
    except (RuntimeError, OSError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from e


def decode(data: torch.Tensor, path: str | os.PathLike) -> torch.Tensor:
    """Decode encoded image bytes to uint8 ``[3, H, W]`` RGB; a bad file raises an error naming it.

    JPEG, PNG (8 or 16 bits per channel; 16-bit values are rounded to 8 bits), WebP and GIF are
    decoded by torchvision; BMP, which torchvision does not read, by Pillow.
    """
    if bytes(data[:2].tolist()) == b"BM":
        return _decode_with_pillow(data, path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DEPRECATION, category=DeprecationWarning)
            image = decode_image(data, mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError) as e:
        raise DatasetError(f"cannot decode image {path}: {e}") from e
    if image.dtype == torch.uint16:  # 16-bit PNG: every transform and model takes 8 bits
        image = (image.to(torch.int32) * 255 + 32767).div(65535, rounding_mode="floor").to(torch.uint8)
    if image.dtype != torch.uint8:
        raise DatasetError(f"cannot decode image {path}: {image.dtype} pixels are not supported; "
                           "convert it to 8-bit RGB")
    return image


def _decode_with_pillow(data: torch.Tensor, path: str | os.PathLike) -> torch.Tensor:
    """What torchvision does not decode (BMP) as uint8 ``[3, H, W]`` RGB."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data.numpy().tobytes())) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DatasetError(f"cannot decode image {path}: {e}") from e
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file as uint8 ``[3, H, W]`` RGB."""
    return decode(read_bytes(path), path)


class ImageDataset(Dataset):
    """Records of one split, read and transformed on access.

    Each item is a dict: ``image`` (the transform's output, by default the uint8 ``[3, H, W]``
    image), ``pid``, ``camid``, ``index`` and ``path``; the default collate batches it.

    Args:
        records: ``(path, pid, camid)`` records, e.g. ``dataset.query``.
        transform: applied to the uint8 image (see :mod:`reid_core.data.transforms`).
    """

    def __init__(self, records: Sequence[Record | tuple[str, int, int]], transform: Callable[[torch.Tensor], Any] | None = None) -> None:
        self.records = [Record(str(p), int(pid), int(cam)) for p, pid, cam in records]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        image = read_image(rec.path)
        if self.transform is not None:
            image = self.transform(image)
        return {"image": image, "pid": rec.pid, "camid": rec.camid, "index": index, "path": rec.path}

    @property
    def pids(self) -> list[int]:
        """The pid of every item, in order (what :class:`~reid_core.data.sampler.PKSampler` needs)."""
        return [r.pid for r in self.records]


class EncodedDataset(ImageDataset):
    """Like :class:`ImageDataset`, but ``image`` is the file's undecoded bytes (for batched GPU decoding)."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        return {"image": read_bytes(rec.path), "pid": rec.pid, "camid": rec.camid, "index": index, "path": rec.path}


def collate_encoded(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate for :class:`EncodedDataset`: byte tensors differ in length, so they stay a list."""
    return {
        "image": [it["image"] for it in items],
        "pid": torch.tensor([it["pid"] for it in items], dtype=torch.long),
        "camid": torch.tensor([it["camid"] for it in items], dtype=torch.long),
        "index": torch.tensor([it["index"] for it in items], dtype=torch.long),
        "path": [it["path"] for it in items],
    }
