"""Render the pictures of the visualization page from the synthetic dataset.

    python docs/scripts/render_viz.py [--weights CKPT] [--out docs/assets/viz]

With no ``--weights`` the model is osnet_x0_25_dpr with random weights whose BatchNorm
statistics are re-estimated on the synthetic training images (forward passes only, no
training): enough for colour and layout to drive the ranking, so that the pictures show right
and wrong matches. The committed pictures come from ``reid demo``'s checkpoint
(``reid-demo/train/checkpoints/last.pth``).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import reid_core
import torch
from PIL import Image
from reid_core.data import build_dataset
from reid_core.data.image_dataset import ImageDataset
from reid_core.data.transforms import eval_transforms
from reid_core.viz import render_gradcam, render_rank_lists, render_tsne

MODEL = "osnet_x0_25_dpr"
SIZE = (128, 64)  # the synthetic images' own size: four times cheaper than 256 x 128


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, records: list, size: tuple[int, int], passes: int = 3) -> None:
    """Replace BatchNorm running statistics by those of ``records`` (no weight changes)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over every batch seen
    model.train()
    loader = torch.utils.data.DataLoader(ImageDataset(records, eval_transforms(size)), batch_size=64, shuffle=True)
    for _ in range(passes):
        for batch in loader:
            model(batch["image"])
    model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="a trained osnet_x0_25_dpr checkpoint")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "assets" / "viz"))
    parser.add_argument("--root", help="where to generate the synthetic dataset (default $REID_HOME/datasets)")
    parser.add_argument("--num-ids", type=int, default=40)
    parser.add_argument("--dpi", type=int, default=50)
    parser.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("H", "W"),
                        help="input size to run the model at (default 128 64; `reid demo` trains at 96 48)")
    args = parser.parse_args()

    torch.manual_seed(0)
    ds = build_dataset("synthetic", args.root, num_ids=args.num_ids)
    if args.weights:
        model = reid_core.load(MODEL, weights=args.weights)
    else:
        model = reid_core.create_model(MODEL, num_classes=ds.num_train_pids)
    size = tuple(args.size)
    model.attach_meta(dataclasses.replace(model.meta, input_size=size))
    if not args.weights:
        recalibrate_batchnorm(model, ds.train, size)
    model.eval()
    out = Path(args.out)
    for old in out.glob("*.png"):
        old.unlink()
    rank = render_rank_lists(model, ds, out, queries=3, topk=8, per_image=3, dpi=args.dpi)
    cam = render_gradcam(model, ds, out, queries=1, topk=6, dpi=args.dpi)
    tsne = render_tsne(model, ds, out / "tsne.png", ids=10, thumbnails=True, size=7, dpi=args.dpi + 30)
    for p in [*rank, *cam, tsne]:
        # a 256-colour palette keeps the committed pictures small
        Image.open(p).convert("RGB").quantize(256).save(p, optimize=True)
        print(p, p.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
