"""``load``: a zoo model with its trained weights, ready for inference."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml

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
    input_size: tuple[int, int] | None = None,
    flip: bool | None = None,
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
        input_size: (H, W) to run at instead of the size the weights were trained at (warned
            about when it differs).
        flip: test-time flip (average each image's features with its mirror's) instead of the
            weights' own setting.
        **kwargs: family-specific build options.

    The file is downloaded once into the cache (see :mod:`reid_core.hub`), verified, and loaded
    with ``weights_only=True`` and strict key matching.

    The input size and test-time flip travel with the weights: a reid-zoo training checkpoint
    gives its ``INPUT.SIZE`` and ``TEST.FLIP`` (and the ``MODEL.KWARGS`` it was built with), a
    catalogued file its record's ``input_size``. They land in ``model.meta`` (``input_size``,
    ``test_flip``, ``trained_size``), which :func:`~reid_core.extract_features`, the
    evaluation, the pictures and the export read.
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
    trained = training_settings(state, path) if weights is not None else {}
    build = {"num_classes": record.num_classes, "camera_num": record.camera_num} if record else {}
    if weights is not None:
        build.update(trained.get("build", {}))
        build.update(_build_args_from(name, state, build))
    if record is not None:
        build.update(record.build)
    model = create_model(name, **{**build, **kwargs})
    own_size = trained.get("input_size") or (record.input_size if record is not None else None)
    if own_size is None and record is not None:
        own_size = model.meta.input_size  # a record without a size was trained at the model's default
    model.attach_meta(dataclasses.replace(
        model.meta, input_size=own_size or model.meta.input_size, test_flip=bool(trained.get("flip", False)),
        trained_size=own_size,
    ))
    load_weights(model, state, strict=True)
    set_input(model, input_size=input_size, flip=flip)
    return model.to(device or "cpu").eval()


#: MODEL.KWARGS that only matter for training from scratch, not for rebuilding trained weights
_TRAINING_ONLY_KWARGS = ("backbone_weights", "pretrained", "pretrained_path")


def training_settings(state: dict, path: str | os.PathLike = "checkpoint") -> dict[str, Any]:
    """What a reid-zoo training checkpoint says about how to run its weights.

    Returns ``{"input_size": (H, W), "flip": bool, "build": {...}}`` read from the config the
    trainer stores (``INPUT.SIZE``, ``TEST.FLIP``, ``MODEL.KWARGS``), or ``{}`` for a file
    that carries no such config (a plain state dict, an upstream checkpoint).
    """
    text = state.get("config")
    if not isinstance(text, str):
        return {}
    try:
        cfg = yaml.safe_load(text)
        size = tuple(int(v) for v in cfg["INPUT"]["SIZE"])
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"INPUT.SIZE {cfg['INPUT']['SIZE']!r} is not (H, W)")
        flip = bool(cfg.get("TEST", {}).get("FLIP", False))
        kwargs = dict(cfg.get("MODEL", {}).get("KWARGS") or {})
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise WeightsError(f"{path}: cannot read the training config stored in the checkpoint: {e}") from e
    build = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items() if k not in _TRAINING_ONLY_KWARGS}
    return {"input_size": size, "flip": flip, "build": build}


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def check_input_size(model: Any, input_size: tuple[int, int] | None, *, stacklevel: int = 3) -> None:
    """Warn when ``input_size`` differs from the size ``model``'s weights were trained at."""
    meta = getattr(model, "meta", None)
    own = getattr(meta, "trained_size", None)
    if input_size is None or own is None or tuple(input_size) == tuple(own):
        return
    warnings.warn(
        f"{meta.name}: running at input size {_size_text(input_size)} (H x W), but its weights were trained at "
        f"{_size_text(own)}; features at another size are usually much worse",
        UserWarning,
        stacklevel=stacklevel,
    )


def set_input(model: ReIDModel, *, input_size: tuple[int, int] | None = None, flip: bool | None = None) -> ReIDModel:
    """Make ``model`` run at ``input_size`` (H, W) and with or without test-time ``flip`` from now on.

    Every tool that reads images takes both from ``model.meta``. ``None`` keeps the current
    value. A size other than the one the weights were trained at gives a warning naming both.
    Returns the model.
    """
    changes: dict[str, Any] = {}
    if input_size is not None:
        size = tuple(int(v) for v in input_size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"input_size must be (H, W) with positive sides, got {input_size!r}")
        check_input_size(model, size)
        changes["input_size"] = size
    if flip is not None:
        changes["test_flip"] = bool(flip)
    if changes:
        model.attach_meta(dataclasses.replace(model._meta(), **changes))
    return model


def _build_args_from(name: str, state: dict, default: dict) -> dict:
    """num_classes / camera_num read off a user's checkpoint through the keys the family declares."""
    meta = model_info(name)
    sd, _ = unwrap_state_dict(state)
    if meta.classifier_key and meta.classifier_key not in sd:
        # Perhaps an older upstream layout: read the keys as the family's converter renames them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sd = create_model(name, **default).convert_checkpoint(sd)
    out = {}
    for key, arg in ((meta.classifier_key, "num_classes"), (meta.camera_key, "camera_num")):
        if key and key in sd:
            out[arg] = int(sd[key].shape[0])
    return {**default, **out}
