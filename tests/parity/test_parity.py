"""Upstream parity: every zoo model reproduces the seed's output for the reid-fill-v1 weights.

The procedure is the one of README.md in this folder: fill the fixture's keys, load them with
the project's loader in strict mode, run the fixture's input, compare at 1e-4 relative error.
A fixture whose family is not installed is skipped; an installed family that lacks one of its
fixture models fails.
"""

import base64
import dataclasses
import fnmatch
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import reid_core
from reid_core.registry import KNOWN_SUFFIXES

from .reidfill import fill, make_input

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.json"))


def family_of(model: str) -> str:
    return next(extra for suffix, extra in KNOWN_SUFFIXES.items() if model.endswith(suffix))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_parity(path):
    fx = json.loads(path.read_text())
    name = fx["model"]
    if family_of(name) not in {f.extra for f in reid_core.list_families().values()}:
        pytest.skip(f"family of {name} not installed")
    model = reid_core.create_model(name, **fx["build"])
    # The model normalizes as its published weights expect (the catalog says how) ...
    family = reid_core.list_families()[model.family]
    norm = family.catalog[name]["normalization"]
    assert model.mean == pytest.approx(norm["mean"], abs=1e-6)
    assert model.std == pytest.approx(norm["std"], abs=1e-6)
    # ... while the fixture's output was computed with the fixture's normalization: the seed's
    # builder used ImageNet statistics for TransReID when no weights were loaded.
    model.attach_meta(dataclasses.replace(model.meta, mean=tuple(fx["mean"]), std=tuple(fx["std"])))

    state = fill(fx["keys"], fx["fill"]["seed"])
    # Keys the family declares unused (e.g. CLIP-ReID's text encoder) are dropped and reported.
    unused = tuple(getattr(model, "unused_checkpoint_keys", ()))
    own = model.state_dict()
    needed = [k for k in state if k in own or not any(fnmatch.fnmatchcase(k, p) for p in unused)]
    assert sorted(own) == sorted(needed), "state-dict keys differ from the upstream's"
    report = reid_core.load_weights(model, state, strict=True)
    assert report.ok and report.loaded == len(needed)
    assert sorted(report.dropped) == sorted(set(state) - set(needed))

    x = make_input(fx["input"])
    camids = fx["camids"]
    model.eval()
    with torch.no_grad():
        y = model(x, camids=torch.tensor(camids)) if camids is not None else model(x)
    ref = np.frombuffer(base64.b64decode(fx["output"]["base64"]), dtype="<f4").reshape(fx["output"]["shape"])
    assert tuple(y.shape) == tuple(ref.shape)
    rel = np.linalg.norm(y.numpy().astype(np.float64) - ref) / np.linalg.norm(ref)
    assert rel <= 1e-4, f"{name}: relative error {rel:.3e}"
    assert model.feature_dim == ref.shape[1]
