"""Shared drawing helpers: optional imports, display images, grids of image cells, saving."""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from ..data.image_dataset import read_image
from ..errors import ReidError
from ..data.transforms import eval_transforms

#: inches of one image cell (width, height): person crops are about twice as high as wide
CELL = (1.5, 3.0)
RIGHT = "#1a9e3a"
WRONG = "#d62728"


class VizError(ReidError, ValueError):
    """A visualization request that cannot be drawn (no Grad-CAM layer, too few images, ...)."""


def require(module: str) -> ModuleType:
    """Import an optional dependency of the ``viz`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"reid_core.viz needs {module.split('.')[0]}: install the viz extra with "
            '`pip install "reid-core[viz]"` (matplotlib, scikit-learn, grad-cam)'
        ) from e


def display_image(path: str | os.PathLike, size: tuple[int, int]) -> torch.Tensor:
    """An image file as float ``[3, H, W]`` in [0, 1], resized to ``size`` as the model sees it."""
    return eval_transforms(tuple(size))(read_image(path))


def to_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[3, H, W]`` tensor (float in [0, 1] or uint8) to an ``H x W x 3`` array for ``imshow``."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dim() == 3 and image.shape[0] == 3:
            image = image.permute(1, 2, 0)
        image = image.numpy()
    return image


def new_figure(rows: int, cols: int, *, dpi: int = 100, cell: tuple[float, float] = CELL) -> tuple[Any, np.ndarray]:
    """A figure of ``rows x cols`` image cells, and its axes as a 2-D array.

    The figure is ``cols * cell[0]`` by ``rows * cell[1]`` inches, so the saved PNG is
    ``round(cols * cell[0] * dpi)`` pixels wide and ``round(rows * cell[1] * dpi)`` high.
    """
    figure = require("matplotlib.figure")
    require("matplotlib.backends.backend_agg")
    fig = figure.Figure(figsize=(cols * cell[0], rows * cell[1]), dpi=dpi, layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig, axes


def draw_cell(
    ax: Any,
    image: torch.Tensor | np.ndarray | None,
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    edge: str | None = None,
) -> None:
    """Show one image in a cell, with optional texts and a coloured border."""
    if image is None:
        ax.set_axis_off()
        return
    ax.imshow(to_hwc(image), interpolation="bilinear")
    if title:
        ax.set_title(title, fontsize="large")
    if xlabel:
        ax.set_xlabel(xlabel, fontsize="medium")
    if ylabel:
        ax.set_ylabel(ylabel, fontsize="large")
    if edge:
        for spine in ax.spines.values():
            spine.set(visible=True, color=edge, linewidth=5)


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG at its own size and dpi (temporary name, then renamed)."""
    backend = require("matplotlib.backends.backend_agg")
    backend.FigureCanvasAgg(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return path


def person_label(pid: int, camid: int) -> str:
    """``p:0012 c:03`` (camera one-based, as in the file names)."""
    return f"p:{pid:04d} c:{camid + 1:02d}"
