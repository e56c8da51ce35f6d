"""``load``: a zoo model with its trained weights, ready for inference."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from .catalog import DEFAULT_SOURCE, WeightsInfo
from .checkpoint import load_weights, read_checkpoint, unwrap_state_dict
from .errors import CheckpointError, WeightsError
from .hub import fetch_file, fetch_weights
from .model import ReIDModel
from .registry import create_model, model_info


def weights_record(name: str, dataset: str, source: str | None = None) -> WeightsInfo:
    """The catalogued weights of ``name`` trained on ``dataset`` (from ``source``, default ``seed``)."""
    info = model_info(name)
    if not info.all_weights:
        raise WeightsError(
            f"{name} has no published weights; build it with reid_core.create_model({name!r}) "
            "and train it, or pass weights=PATH"
        )
    source = source or (DEFAULT_SOURCE if DEFAULT_SOURCE in info.sources else info.sources[0])
    if source not in info.sources:
        raise WeightsError(f"{name} has no weights from source {source!r}; sources: {', '.join(info.sources)}")
    records = info.weights_from(source)
    if dataset not in records:
        raise WeightsError(
            f"{name} has no {source!r} weights for dataset {dataset!r}; available: {', '.join(sorted(records))}"
        )
    return records[dataset]


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "file://"))


def load(
    name: str,
    dataset: str | None = None,
    *,
    weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    source: str | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> ReIDModel:
    """A model with trained weights, in eval mode.

    Args:
        name: zoo name, e.g. ``"vit_transreid"``.
        dataset: training dataset of the catalogued weights (``market1501``, ``dukemtmcreid``,
            ``msmt17``). Optional when ``weights`` is given.
        weights: a local file or a URL that overrides the catalog (your own checkpoint).
        device: where to put the model (default: CPU).
        source: which catalogued source to use (default ``seed``; e.g. ``fastreid``).
        progress: show a progress bar while downloading.
        **kwargs: family-specific build options.

    The file is downloaded once into the cache (see :mod:`reid_core.hub`), verified, and loaded
    with ``weights_only=True`` and strict key matching.
    """
    record = weights_record(name, dataset, source) if dataset is not None else None
    if weights is None:
        if record is None:
            raise WeightsError(f"load({name!r}): give a dataset ({', '.join(sorted(model_info(name).weights))}) or weights=PATH")
        path = fetch_weights(record, progress=progress, what=f"{name} on {dataset}")
    elif _is_url(str(weights)):
        path = fetch_file(str(weights), progress=progress, what=name)
    else:
        path = Path(weights).expanduser()

    try:
        state = read_checkpoint(path)
    except CheckpointError as e:
        if weights is not None and not _is_url(str(weights)):
            raise
        raise CheckpointError(f"{e}. The cached file is unusable: delete {path} and retry") from None
    build = {"num_classes": record.num_classes, "camera_num": record.camera_num} if record else {}
    if weights is not None:
        build.update(_build_args_from(name, state, build))
    if record is not None:
        build.update(record.build)
    model = create_model(name, **{**build, **kwargs})
    if record is not None and record.input_size is not None:
        model.attach_meta(dataclasses.replace(model.meta, input_size=record.input_size))
    load_weights(model, state, strict=True)
    return model.to(device or "cpu").eval()


def _build_args_from(name: str, state: dict, default: dict) -> dict:
    """num_classes / camera_num read off a user's checkpoint through the keys the family declares."""
    meta = model_info(name)
    sd, _ = unwrap_state_dict(state)
    out = {}
    for key, arg in ((meta.classifier_key, "num_classes"), (meta.camera_key, "camera_num")):
        if key and key in sd:
            out[arg] = int(sd[key].shape[0])
    return {**default, **out}
