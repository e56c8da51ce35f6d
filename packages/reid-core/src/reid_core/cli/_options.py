"""Options shared by the ``reid`` commands, each defined once, and the checks of their values.

The shared options come as argparse parent parsers (``sub.add_parser(..., parents=[...])``), so
that the same option has the same name, default and help in every command. A value is checked
while the command line is parsed, so that a mistake ends in one line naming the argument and
exit code 2 before any work starts. This module imports neither torch nor the rest of
reid_core at import time: ``reid --help`` stays fast.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from typing import Any

from ..errors import ReidError


class UsageError(ReidError):
    """A command-line value that is wrong in a way only known after parsing (``reid`` prints it, exit 2)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes end in one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- value types: each raises ArgumentTypeError, which argparse prefixes with the argument ----------


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An integer of at least 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    """A number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def input_size(text: str) -> tuple[int, int]:
    """``"256x128"`` (or ``"256,128"``) -> ``(256, 128)``: height then width, both positive."""
    parts = [p for p in re.split(r"[x×,\s]+", text.strip().strip("()[]").lower()) if p]
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW in pixels, e.g. 256x128, got {text!r}")
    return size  # type: ignore[return-value]


def regex(text: str) -> str:
    """A regular expression that compiles (the text itself is kept)."""
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"not a valid regular expression {text!r}: {e}") from None
    return text


_DEVICE = re.compile(r"(cpu|mps|cuda)(:(\d+))?$")


def device(text: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``, and present on this machine."""
    m = _DEVICE.match(text.strip().lower())
    if m is None:
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    kind, index = m.group(1), m.group(3)
    if kind == "cpu":
        return "cpu" if index is None else f"cpu:{index}"
    import torch  # only when a device is named: checking it needs torch anyway

    if kind == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f"{text!r} asked, but this torch ({torch.__version__}) sees no CUDA device; use --device cpu"
            )
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise argparse.ArgumentTypeError(f"{text!r} asked, but there are only {count} CUDA device(s): cuda:0..{count - 1}")
    elif kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise argparse.ArgumentTypeError(f"{text!r} asked, but MPS is not available here; use --device cpu")
    return f"{kind}:{index}" if index is not None else kind


class _DeprecatedAlias(argparse._AppendAction):
    """``--dataset-arg``: the old name of ``--dataset-option``; still works, with a note."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated; use --dataset-option", file=sys.stderr)
        super().__call__(parser, namespace, values, option_string)


# -- parent parsers -----------------------------------------------------------------------------------

DATASETS_HELP = ("market1501, dukemtmcreid, msmt17, cuhk03np_detected, cuhk03np_labeled, folder or synthetic "
                 "(default; generated on first use)")


def weights_options(*, seed_help: str = "random seed of --random-init (default 0)") -> Parser:
    """Which model, and where its weights come from."""
    p = Parser(add_help=False)
    p.add_argument("model", help="zoo name, e.g. osnet_x1_0_dpr (see `reid list`)")
    g = p.add_argument_group("weights")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--weights", help="a checkpoint file or URL instead of the catalogued weights "
                       "(a reid-zoo training checkpoint also gives its input size and test-time flip)")
    which.add_argument("--random-init", action="store_true", help="use a randomly initialized model (no weights)")
    g.add_argument("--source", help="catalogued weights source (default: seed)")
    g.add_argument("--seed", type=int, default=0, help=seed_help)
    return p


def input_options(*, flip: bool = True) -> Parser:
    """How images are fed: the input size and (with ``flip``) test-time flip; default: the weights' own."""
    p = Parser(add_help=False)
    g = p.add_argument_group("input")
    g.add_argument("--input-size", type=input_size, metavar="HxW",
                   help="resize images to this size, e.g. 256x128 (default: the size the weights were trained at; "
                   "another size is warned about)")
    if flip:
        g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                       help="average the features of each image and its mirror (default: as the weights were "
                       "tested; a reid-zoo training checkpoint says, catalogued weights: no)")
    return p


def run_options(*, batch_size: int = 128) -> Parser:
    """Where the model runs and how images are loaded."""
    p = Parser(add_help=False)
    g = p.add_argument_group("running")
    g.add_argument("--device", type=device, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    g.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help=f"images per forward pass (default {batch_size})")
    g.add_argument("--num-workers", type=non_negative_int, default=None,
                   help="image decoding worker processes; 0 decodes in the main process (default: one per CPU core, up to 8)")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")
    return p


#: ``reid_core.deploy.auto.CHOICES``, spelled out so that ``--help`` needs no torch import
BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")


def amp_options() -> Parser:
    """fp16 autocast and the inference backend (the commands that extract features)."""
    from ..deploy.auto import CHOICES

    p = Parser(add_help=False)
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="fp16 autocast (default: on for CUDA)")
    p.add_argument("--backend", choices=CHOICES, default="auto",
                   help="what runs the model (default auto: on a CPU, OpenVINO or ONNX Runtime when installed "
                   "and its features match PyTorch's, for jobs of 1000 images or more; else PyTorch)")
    return p


def dataset_options(*, default: str | None = "synthetic", dataset_help: str | None = None) -> Parser:
    """Which dataset and where it lies, and its reader's options."""
    p = Parser(add_help=False)
    g = p.add_argument_group("dataset")
    g.add_argument("--dataset", default=default, help=dataset_help or DATASETS_HELP)
    g.add_argument("--root", help="the dataset folder or its parent (default: $REID_HOME/datasets)")
    g.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a reader option, repeatable: e.g. num_ids=20 or seed=1 (synthetic), version=V1 (msmt17), "
                   r"camera_pattern='c(\d+)' (folder)")
    g.add_argument("--dataset-arg", action=_DeprecatedAlias, dest="dataset_option", metavar="KEY=VALUE",
                   help=argparse.SUPPRESS)
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the defaults that depend on where the command runs (progress bars on a terminal)."""
    if getattr(args, "progress", False) is None:
        args.progress = sys.stderr.isatty()
    return args


# -- checks that need another argument's value ----------------------------------------------------


def _scalar(value: str) -> Any:
    """A reader option's value: an integer, a float, true/false, null, or the text as given."""
    low = value.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_dataset_options(items: list[str], dataset: str) -> dict[str, Any]:
    """``["num_ids=20"]`` -> ``{"num_ids": 20}``, each key checked against ``dataset``'s reader.

    Raises :class:`UsageError` naming ``--dataset-option`` for a malformed item, an option the
    reader does not take, or a ``camera_pattern`` that is not a regular expression.
    """
    from ..data import DATASETS, cuhk03np, dataset_name

    key = dataset_name(dataset)
    reader = cuhk03np if key == "cuhk03np_labeled" else DATASETS[key]
    params = inspect.signature(reader).parameters
    fixed = {"root", "variant"} if key.startswith("cuhk03np") else {"root"}
    known = None if any(p.kind is p.VAR_KEYWORD for p in params.values()) else [
        n for n in params if n not in fixed]
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise UsageError(f"argument --dataset-option: expected KEY=VALUE, got {item!r}")
        if known is not None and name not in known:
            takes = f"its options are {', '.join(known)}" if known else "it takes none"
            raise UsageError(f"argument --dataset-option: the {key} reader has no option {name!r}; {takes}")
        if name == "camera_pattern":
            try:
                regex(value)
            except argparse.ArgumentTypeError as e:
                raise UsageError(f"argument --dataset-option: camera_pattern: {e}") from None
            out[name] = value
        else:
            out[name] = _scalar(value)
    return out
