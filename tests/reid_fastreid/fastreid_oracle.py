"""fast-reid itself as the reference for the ``*_fastreid`` models and their ``fastreid`` records.

For one release config (e.g. ``sbs_R50-ibn`` on Market-1501) this builds fast-reid's own network,
fills every tensor with random values, saves it as fast-reid's ``Checkpointer`` does (a
``{"model": state_dict, ...}`` file), runs it on random images, then loads the file with
``reid_core.load(name, dataset, source="fastreid", weights=file)``, i.e. with the build options
and the input size of the catalog record, and compares the features.

Three kinds of reference ("eras"):

``today``
    The ``fastreid`` package (1.4.0, today's master). The wheel ships no configs; the settings of
    the release configs are :data:`TODAY_RECIPES` and :data:`TODAY_BACKBONES`, read from the
    repository's ``configs/Base-*.yml`` (JDAI-CV/fast-reid at master).
``2020``
    The code of the commit that published the release files (1ed73fb, 2020-07-30), from a checkout
    given with ``--code-2020 DIR``, built from that checkout's own config files. It is imported in
    a subprocess, since it is also called ``fastreid``. Used for the table below, not in CI.
``2020-facts``
    The ``fastreid`` package with the differences of the 2020 code applied
    (:func:`apply_2020_facts`), each one read in that code. This is what CI checks.

As a script it prints the table (config, code era, loads, relative error) of every release
config against every reference it can build::

    python -m tests.reid_fastreid.fastreid_oracle [--code-2020 DIR] [--dataset market1501] [--before]

``--before`` also loads each 2020 file as the zoo did before the records named their code era.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Base recipe of each release config (its file name up to the first ``_``), as today's configs set it.
TODAY_RECIPES: dict[str, dict[str, Any]] = {
    "bagtricks": {
        "MODEL.META_ARCHITECTURE": "Baseline", "MODEL.BACKBONE.WITH_NL": False,
        "MODEL.HEADS.NAME": "EmbeddingHead", "MODEL.HEADS.WITH_BNNECK": True, "MODEL.HEADS.EMBEDDING_DIM": 0,
        "MODEL.HEADS.POOL_LAYER": "GlobalAvgPool", "MODEL.HEADS.NECK_FEAT": "before",
        "MODEL.HEADS.CLS_LAYER": "Linear", "INPUT.SIZE_TEST": [256, 128],
    },
    "AGW": {"MODEL.BACKBONE.WITH_NL": True, "MODEL.HEADS.POOL_LAYER": "GeneralizedMeanPooling"},
    "sbs": {
        "MODEL.BACKBONE.WITH_NL": True, "MODEL.HEADS.NECK_FEAT": "after",
        "MODEL.HEADS.POOL_LAYER": "GeneralizedMeanPoolingP", "MODEL.HEADS.CLS_LAYER": "CircleSoftmax",
        "MODEL.HEADS.SCALE": 64, "MODEL.HEADS.MARGIN": 0.35, "INPUT.SIZE_TEST": [384, 128],
    },
    "mgn": {"MODEL.META_ARCHITECTURE": "MGN", "MODEL.BACKBONE.WITH_NL": False, "MODEL.HEADS.EMBEDDING_DIM": 256},
}
#: Base-AGW and Base-SBS inherit Base-bagtricks; Base-MGN inherits Base-SBS.
TODAY_BASES = {"bagtricks": [], "AGW": ["bagtricks"], "sbs": ["bagtricks"], "mgn": ["bagtricks", "sbs"]}
#: Backbone part of a config name -> its settings.
TODAY_BACKBONES: dict[str, dict[str, Any]] = {
    "R50": {"MODEL.BACKBONE.DEPTH": "50x"},
    "R50-ibn": {"MODEL.BACKBONE.DEPTH": "50x", "MODEL.BACKBONE.WITH_IBN": True},
    "R101-ibn": {"MODEL.BACKBONE.DEPTH": "101x", "MODEL.BACKBONE.WITH_IBN": True},
    "S50": {"MODEL.BACKBONE.NAME": "build_resnest_backbone", "MODEL.BACKBONE.DEPTH": "50x"},
}
COMMON = {"MODEL.BACKBONE.PRETRAIN": False, "MODEL.BACKBONE.LAST_STRIDE": 1, "MODEL.DEVICE": "cpu"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DATASET_DIRS = {"market1501": "Market1501", "dukemtmcreid": "DukeMTMC", "msmt17": "MSMT17"}
ERAS = ("today", "2020-facts", "2020")


@dataclasses.dataclass(frozen=True)
class Release:
    """One ``source: fastreid`` record of the catalog."""

    name: str  #: zoo model name
    dataset: str
    config: str  #: e.g. ``sbs_R50-ibn``
    num_classes: int
    input_size: tuple[int, int]  #: the record's, else the model's

    @property
    def recipe(self) -> str:
        return self.config.split("_", 1)[0]

    @property
    def backbone(self) -> str:
        return self.config.split("_", 1)[1]


def releases() -> list[Release]:
    """Every ``source: fastreid`` record, in catalog order."""
    import reid_core

    out = []
    for name in reid_core.list_models(family="fastreid"):
        info = reid_core.model_info(name)
        if "fastreid" not in info.sources:
            continue
        for dataset, rec in info.weights_from("fastreid").items():
            config = Path(rec.config).stem
            out.append(Release(name, dataset, config, rec.num_classes, tuple(rec.input_size or info.input_size)))
    return out


# -- building fast-reid's networks -----------------------------------------------------------------

def today_cfg(release: Release):
    """fast-reid's config for ``release`` as today's configs set it."""
    from fastreid.config import get_cfg

    cfg = get_cfg()
    settings: dict[str, Any] = {}
    for base in [*TODAY_BASES[release.recipe], release.recipe]:
        settings.update(TODAY_RECIPES[base])
    settings.update(TODAY_BACKBONES[release.backbone])
    settings.update(COMMON)
    settings["MODEL.HEADS.NUM_CLASSES"] = release.num_classes
    cfg.merge_from_list([x for kv in settings.items() for x in kv])
    return cfg


def code_2020_cfg(release: Release, root: Path):
    """The 2020 checkout's own config file for ``release``."""
    from fastreid.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(str(root / "configs" / DATASET_DIRS[release.dataset] / f"{release.config}.yml"))
    settings = {**COMMON, "MODEL.HEADS.NUM_CLASSES": release.num_classes}
    cfg.merge_from_list([x for kv in settings.items() for x in kv])
    return cfg


def apply_2020_facts(model: nn.Module, release: Release) -> nn.Module:
    """Turn today's fast-reid network for ``release`` into the network of the 2020 code.

    The facts, each read in fast-reid at 1ed73fb (2020-07-30):

    1. ``modeling/backbones/resnet.py``: the stem pools with ``nn.MaxPool2d(kernel_size=3,
       stride=2, padding=1)`` (no ceil mode).
    2. ``modeling/backbones/resnest.py``: with last stride 1, layer4 is
       ``_make_layer(block, 512, 3, last_stride)``: stride 1 and dilation 1 (not 2).
    3. Same file: with ``WITH_NL`` (AGW, SBS) the ResNeSt gets ``Non_local`` blocks ``NL_2`` (2)
       and ``NL_3`` (3) after the last blocks of layers 2 and 3, run by the same loop as the
       ResNet's (``forward``), built by the same ``_build_nonlocal``.
    4. ``modeling/heads/bnneck_head.py``: the head pools, applies its BNNeck (``bnneck``) and
       returns that in eval; the classifier is ``classifier.weight`` (key renaming: :func:`to_2020_keys`).
       ``configs/Base-AGW.yml``: ``gempool``, which ``meta_arch/baseline.py`` builds as
       ``GeneralizedMeanPoolingP`` (learnable exponent, saved as ``heads.pool_layer.p``).
    5. ``modeling/meta_arch/mgn.py``: one pooling module (``gempool``: learnable GeM) shared by
       eight ``b*_pool = Sequential(pool, Conv2d(2048, 256, 1, bias=False), BN(256), ReLU)``; each
       ``b*_head`` is a BNNeck head on 256 channels with no pooling of its own; the eval feature
       concatenates b1, b2, b3, b21, b22, b31, b32, b33.
    """
    from fastreid.layers import Non_local, get_norm
    from fastreid.layers.pooling import GeneralizedMeanPoolingP
    from fastreid.modeling.backbones.resnest import Bottleneck as ResNeStBottleneck
    from fastreid.modeling.backbones.resnet import ResNet
    from fastreid.modeling.heads import EmbeddingHead

    is_mgn = release.recipe == "mgn"
    trunk = model.backbone
    if release.backbone.startswith("S50"):
        if is_mgn:
            raise NotImplementedError("no release file is an MGN on ResNeSt")
        trunk.inplanes = 1024
        trunk.layer4 = trunk._make_layer(ResNeStBottleneck, 512, 3, stride=1, dilation=1, norm_layer="BN")  # fact 2
        if release.recipe in ("AGW", "sbs"):  # fact 3
            ResNet._build_nonlocal(trunk, [3, 4, 6, 3], [0, 2, 3, 0], "BN")
        else:
            trunk.NL_1_idx = trunk.NL_2_idx = trunk.NL_3_idx = trunk.NL_4_idx = []
        trunk.forward = types.MethodType(ResNet.forward, trunk)
        assert all(isinstance(m, Non_local) for nl in ("NL_2", "NL_3") for m in getattr(trunk, nl, []))
    elif is_mgn:
        trunk[3] = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)  # fact 1
    else:
        trunk.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)  # fact 1
    if release.recipe == "AGW":
        model.heads.pool_layer = GeneralizedMeanPoolingP()  # fact 4
    if not is_mgn:
        return model
    shared = GeneralizedMeanPoolingP()  # fact 5
    for branch in BRANCHES:
        setattr(model, f"{branch}_pool", nn.Sequential(
            shared, nn.Conv2d(2048, 256, 1, bias=False), get_norm("BN", 256), nn.ReLU(True)))
        setattr(model, f"{branch}_head", EmbeddingHead(
            feat_dim=256, embedding_dim=0, num_classes=release.num_classes, neck_feat="after",
            pool_type="Identity", cls_type="CircleSoftmax", scale=64, margin=0.35, with_bnneck=True,
            norm_type="BN"))
    model.forward = types.MethodType(_mgn_2020_forward, model)
    return model


#: MGN's eight maps in the order of the eval feature
BRANCHES = ("b1", "b2", "b3", "b21", "b22", "b31", "b32", "b33")


def _mgn_2020_forward(self, batched_inputs):  # fact 5, eval only
    images = self.preprocess_image(batched_inputs)
    features = self.backbone(images)
    b1, b2, b3 = self.b1(features), self.b2(features), self.b3(features)
    b21, b22 = torch.chunk(b2, 2, dim=2)
    b31, b32, b33 = torch.chunk(b3, 3, dim=2)
    maps = dict(zip(BRANCHES, (b1, b2, b3, b21, b22, b31, b32, b33)))
    return torch.cat([getattr(self, f"{k}_head")(getattr(self, f"{k}_pool")(m)) for k, m in maps.items()], dim=1)


def to_2020_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Today's head key names -> the 2020 BNNeck head's (fact 4), ``pixel_mean``/``pixel_std`` added."""
    out = {}
    for key, value in state_dict.items():
        head, sep, rest = key.partition(".")
        if head == "heads" or (head.startswith("b") and head.endswith("_head")):
            if rest.startswith("bottleneck.0."):
                key = f"{head}.bnneck.{rest[len('bottleneck.0.'):]}"
            elif rest == "weight":
                key = f"{head}.classifier.weight"
        out[key] = value
    out.setdefault("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255)
    out.setdefault("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255)
    return out


def randomize(model: nn.Module, seed: int, run) -> None:
    """Every norm, GeM exponent and bias random, so that no block is an identity (the non-local
    blocks' zero-initialized norms included); convolutions keep their random initialization.

    Each batch norm's running statistics are those of its input on ``run()`` (one forward pass),
    scaled at random, so that the features stay finite through a hundred random layers.
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    def calibrate(module: nn.BatchNorm2d, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach()
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)) + 0.1 * x.std() * uniform(module.num_features, -1, 1))
        module.running_var.copy_(x.var(dim=(0, 2, 3)) * uniform(module.num_features, 0.7, 1.3) + 1e-3)

    hooks = []
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.affine:
                module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(uniform(module.bias.shape, -0.2, 0.2))
            if isinstance(module, nn.BatchNorm2d):
                hooks.append(module.register_forward_pre_hook(calibrate))
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                module.bias.copy_(uniform(module.bias.shape, -0.2, 0.2))
            p = getattr(module, "p", None)
            if isinstance(p, nn.Parameter):
                p.copy_(uniform(p.shape, 2.5, 4.0))
        model.eval()
        run()
    for hook in hooks:
        hook.remove()


@dataclasses.dataclass
class Reference:
    """What fast-reid wrote and computed for one release config."""

    release: Release
    era: str
    checkpoint: Path
    images: torch.Tensor  #: [B, 3, H, W] in [0, 1], float64
    features: torch.Tensor  #: fast-reid's eval output, computed in float64


def build_reference(release: Release, era: str, folder: Path, *, code_root: Path | None = None,
                    batch: int = 2, seed: int = 0, size: tuple[int, int] | None = None) -> Reference:
    """fast-reid's network for ``release`` in ``era`` with random values, saved in ``folder`` as its
    Checkpointer saves it, and its features on random images at the release's input size (or ``size``).

    ``today`` and ``2020-facts`` need the ``fastreid`` package importable; ``2020`` needs the
    2020 code first on ``sys.path`` (see :func:`_worker`) and ``code_root``.
    """
    from fastreid.modeling import build_model
    from fastreid.utils.checkpoint import Checkpointer

    torch.manual_seed(seed)
    if era == "2020":
        cfg = code_2020_cfg(release, code_root)
        if tuple(cfg.INPUT.SIZE_TEST) != release.input_size:
            raise AssertionError(f"{release.config}: the 2020 config tests at {tuple(cfg.INPUT.SIZE_TEST)}, "
                                 f"the catalog record says {release.input_size}")
    else:
        cfg = today_cfg(release)
    model = build_model(cfg)
    if era == "2020-facts":
        apply_2020_facts(model, release)
    height, width = size or release.input_size
    images = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed + 1))
    # fast-reid normalizes 0-255 images, in place. 3 images: the heads' statistics are over the batch.
    calibration = torch.rand(3, 3, height, width) * 255
    randomize(model, seed, lambda: model({"images": calibration}))
    model.eval()
    name = f"{DATASET_DIRS[release.dataset]}_{release.config}_{era}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Checkpointer(model, str(folder)).save(name, iteration=1234)
    checkpoint = folder / f"{name}.pth"
    if era == "2020-facts":
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        saved["model"] = to_2020_keys(saved["model"])
        torch.save(saved, checkpoint)
    # The file holds float32 values; both sides compute in float64 so that a difference in the
    # network shows as such, not drowned in round-off.
    images = images.double()
    model.double()
    # fast-reid's 0-255 statistics (float32 of 0.485 * 255 ...) and the zoo's (float32 of 0.485 ...)
    # round differently; the same float32 values on both sides keep that out of the comparison.
    model.pixel_mean = torch.tensor(IMAGENET_MEAN).double().view(1, 3, 1, 1) * 255
    model.pixel_std = torch.tensor(IMAGENET_STD).double().view(1, 3, 1, 1) * 255
    with torch.no_grad():
        features = model({"images": images.clone() * 255})
    return Reference(release, era, checkpoint, images, features)


def load_zoo_model(ref: Reference):
    """The zoo's model for ``ref``: a 2020 file through its catalog record (build options, input
    size); a file of today's fast-reid as ``load(name, weights=file)`` builds it (today's network)."""
    import reid_core

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref.era == "today":
            return reid_core.load(ref.release.name, weights=ref.checkpoint)
        return reid_core.load(ref.release.name, ref.release.dataset, source="fastreid", weights=ref.checkpoint)


#: where the release files were catalogued before their records named their code era
OLD_MAPPING = {"mgn_sbs_R50_ibn_fastreid": "mgn_R50_ibn_fastreid"}


def compare(ref: Reference, *, as_before: bool = False) -> tuple[bool, float | None, str]:
    """Load ``ref.checkpoint`` with :func:`load_zoo_model`; (loaded, relative L2 error, message).

    ``as_before``: load it as the zoo did before the records named their code era (today's
    network, the old MGN mapping), at the reference's input size.
    """
    try:
        if as_before:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import reid_core

                name = OLD_MAPPING.get(ref.release.name, ref.release.name)
                model = reid_core.load(name, weights=ref.checkpoint)
        else:
            model = load_zoo_model(ref)
    except Exception as e:  # the table reports it
        return False, None, f"{type(e).__name__}: {str(e).splitlines()[0]}"
    if not as_before and ref.era != "today" and tuple(model.input_size) != tuple(ref.images.shape[-2:]):
        return True, None, f"input size {model.input_size} differs from the reference's {tuple(ref.images.shape[-2:])}"
    with torch.no_grad():
        ours = model.double()(ref.images)
    error = float((ours.double() - ref.features.double()).norm() / ref.features.double().norm())
    return True, error, ""


# -- the table -------------------------------------------------------------------------------------

def _worker(args: argparse.Namespace) -> None:
    """Subprocess: build the ``2020`` references with the code at ``args.code_2020``."""
    sys.path.insert(0, str(args.code_2020))
    import fastreid

    assert Path(fastreid.__file__).resolve().is_relative_to(Path(args.code_2020).resolve()), fastreid.__file__
    out = Path(args.out)
    for item in json.loads(Path(args.jobs).read_text()):
        release = Release(**{**item, "input_size": tuple(item["input_size"])})
        ref = build_reference(release, "2020", out, code_root=Path(args.code_2020))
        torch.save({"images": ref.images, "features": ref.features},
                   out / f"{ref.checkpoint.stem}.out.pt")


def _table(args: argparse.Namespace) -> int:
    chosen = [r for r in releases() if args.dataset in (None, r.dataset) and args.config in (None, r.config)]
    eras = ["today", "2020-facts"] + (["2020"] if args.code_2020 else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        refs: list[Reference] = []
        if args.code_2020:
            jobs = folder / "jobs.json"
            jobs.write_text(json.dumps([dataclasses.asdict(r) for r in chosen]))
            subprocess.run([sys.executable, "-m", "tests.reid_fastreid.fastreid_oracle", "--worker",
                            "--code-2020", str(args.code_2020), "--jobs", str(jobs), "--out", tmp], check=True)
        for release in chosen:
            for era in eras:
                if era == "2020":
                    name = f"{DATASET_DIRS[release.dataset]}_{release.config}_2020"
                    out = torch.load(folder / f"{name}.out.pt")
                    ref = Reference(release, era, folder / f"{name}.pth", out["images"], out["features"])
                else:
                    ref = build_reference(release, era, folder)
                loads, error, note = compare(ref)
                if era != "today" and args.before:
                    before = compare(ref, as_before=True)
                    note = f"before: loads {'yes' if before[0] else 'no'}, error {_error(before[1])}"
                ref.checkpoint.unlink()
                rows.append((release, era, loads, error, note))
                print(_row(*rows[-1]), flush=True)
    return 0 if all(r[2] and r[3] is not None and r[3] < 1e-4 for r in rows) else 1


def _error(error: float | None) -> str:
    return "-" if error is None or math.isnan(error) else f"{error:.1e}"


def _row(release: Release, era: str, loads: bool, error: float | None, note: str) -> str:
    cells = (release.config, release.dataset, release.name, era, "yes" if loads else "no", _error(error), note)
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code-2020", type=Path, help="checkout of JDAI-CV/fast-reid at 1ed73fb")
    parser.add_argument("--dataset", choices=sorted(DATASET_DIRS), help="only this dataset's records")
    parser.add_argument("--config", help="only this config's records, e.g. sbs_R50-ibn")
    parser.add_argument("--before", action="store_true",
                        help="also load the 2020 files as the zoo did before their records named their code era")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    print("| config | dataset | zoo model | code era | loads | relative error | note |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    return _table(args)


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
