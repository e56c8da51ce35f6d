"""docs/training.md's "same training by hand" command must stay the demo's training."""

import argparse
import shlex
from pathlib import Path

from reid_core.cli.demo import DEFAULT_EPOCHS, DEMO_OPTS, MODEL
from reid_core.train import add_arguments, build_config

PAGE = Path(__file__).resolve().parents[2] / "docs" / "training.md"
# What these set changes speed, logging or files, not what the model learns.
NOT_TRAINING = {"DATALOADER.NUM_WORKERS", "TEST.BATCH_SIZE", "TEST.EVAL_PERIOD", "KEEP_LAST", "LOG_PERIOD",
                "SOLVER.FIND_UNUSED_PARAMETERS", "OUTPUT_DIR"}


def flatten(node, prefix=""):
    out = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        out.update(flatten(value, name + ".") if isinstance(value, dict) else {name: value})
    return out


def by_hand_command() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"reid train --dataset synthetic {MODEL}")
    block = text[start:text.index("```", start)]
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:2] == ["reid", "train"]
    return words[2:]


def test_by_hand_command_trains_as_the_demo() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(by_hand_command())
    docs = flatten(build_config(args.model, args.dataset, args.root, opts=args.opts))
    demo = flatten(build_config(MODEL, "synthetic", None, opts=DEMO_OPTS + ["SOLVER.MAX_EPOCHS", str(DEFAULT_EPOCHS)]))
    differ = {k: (docs[k], demo[k]) for k in demo if k not in NOT_TRAINING and docs[k] != demo[k]}
    assert differ == {}
