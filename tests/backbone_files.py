"""Helpers for pretrained-start tests: serve state dicts in their native layout from 127.0.0.1."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch

from .http_server import FileServer


def state_bytes(state: Mapping[str, object]) -> bytes:
    """What ``torch.save(state, file)`` writes."""
    buf = io.BytesIO()
    torch.save(dict(state), buf)
    return buf.getvalue()


@contextmanager
def served(files: Mapping[str, Mapping[str, object]]) -> Iterator[FileServer]:
    """A server answering ``/<name>`` with each state dict saved by ``torch.save``."""
    server = FileServer()
    try:
        for name, state in files.items():
            server.files["/" + name] = state_bytes(state)
        yield server
    finally:
        server.stop()


def assert_params_from(
    model: torch.nn.Module, file_state: Mapping[str, torch.Tensor], where: Mapping[str, list[str]]
) -> int:
    """Every file tensor equals the model tensors ``where[file key]`` names; returns how many were compared."""
    own = model.state_dict()
    n = 0
    for key, targets in where.items():
        for target in targets:
            assert torch.equal(own[target], file_state[key]), f"{target} differs from the file's {key}"
            n += 1
    return n


@functools.cache
def torchvision_resnet50() -> dict[str, torch.Tensor]:
    """A randomly initialised torchvision ResNet-50's state dict (built once per test session)."""
    import torchvision

    torch.manual_seed(50)
    model = torchvision.models.resnet50()
    for m in model.modules():  # non-trivial BatchNorm statistics, so that a mix-up shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return model.state_dict()


def torchvision_reference(name: str, sd: Mapping[str, torch.Tensor], **kwargs) -> torch.nn.Module:
    """torchvision's ``name`` built with ``kwargs``, holding ``sd``, in eval mode: the reference trunk."""
    import torchvision

    model = getattr(torchvision.models, name)(**kwargs)
    model.load_state_dict(sd)
    return model.eval()
