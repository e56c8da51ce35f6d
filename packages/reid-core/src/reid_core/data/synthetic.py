"""A synthetic re-identification dataset of rendered pedestrians, in the Market-1501 layout.

It is the project's embedded default: it needs no download, is generated in seconds, and is the
same for a given seed on every machine. :func:`synthetic` returns it as a
:class:`~reid_core.data.base.ReIDDataset`, read by the Market-1501 reader.

How it is made:

* **Identities** have a head (skin, hair), a torso with a clothing pattern, arms with long or
  short sleeves, legs in trousers, shorts or a skirt, shoes, a build (height, width) and an
  accessory (backpack, shoulder bag, hat, scarf or none).
* **Colour is not enough**: identities come in pairs that wear exactly the same colours and
  differ in pattern (stripes one way or the other, checks, diagonals, halves, dots, which all
  cover about half the torso, in blocks large enough to survive a 96 x 48 input) and in
  sleeves, legwear and accessory. Pairs share palette colours with each other too.
* **Cameras** each have their own background, lighting (colour temperature, brightness,
  contrast), blur, noise, JPEG quality, distance (person scale) and favourite viewpoints (front,
  back, side); a backpack shows fully from the back and as straps from the front.
* **Frames** of one identity in one camera vary by stride, arm swing, position, scale and
  occasional occlusion.

Splits follow Market-1501: half the identities train, the other half test; each test identity
has one query image in two of its cameras and the rest of its images in the gallery, with
distractors (pid ``0000``) added to the gallery and junk crops (pid ``-1``, dropped by the
reader) in the test folder, so that the reader's conventions are exercised. Images are 128 x 64.

The dataset is written once to ``$REID_HOME/datasets/synthetic-<version>-<seed>`` (a temporary
folder renamed into place under a file lock) and reused afterwards.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image, ImageDraw, ImageFilter

from ..hub import reid_home
from .base import Record, ReIDDataset
from .market1501 import read_market_layout

#: bump whenever the rendering or the splits change, so that caches are not reused
VERSION = "v2"

IMAGE_SIZE = (128, 64)  #: (H, W) of the written images
_SS = 2  # supersampling: draw at twice the size and downscale, for smooth edges

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (190, 35, 40),
    "blue": (40, 75, 185),
    "green": (45, 140, 60),
    "yellow": (225, 195, 45),
    "white": (232, 232, 228),
    "black": (32, 32, 36),
    "grey": (128, 128, 132),
    "purple": (115, 50, 145),
    "orange": (225, 115, 30),
    "brown": (115, 72, 40),
}
SKIN = [(236, 200, 170), (210, 160, 120), (165, 115, 80), (110, 75, 50)]
HAIR = [(25, 20, 18), (95, 60, 30), (200, 165, 90), (150, 150, 150)]
PATTERNS = ("hstripes", "vstripes", "checks", "diagonal", "halves", "dots")
ACCESSORIES = ("none", "backpack", "bag", "hat", "scarf")
LEGWEAR = ("trousers", "shorts", "skirt")
VIEWS = ("front", "back", "left", "right")
GROUP_SIZE = 2  #: identities that share every colour
TRAIN_FRACTION = 0.5  #: share of the identities in the training split


@dataclasses.dataclass(frozen=True)
class Look:
    """What one identity looks like."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    long_hair: bool
    torso: tuple[int, int, int]
    pattern: str
    pattern_colour: tuple[int, int, int]
    long_sleeves: bool
    legs: tuple[int, int, int]
    legwear: str
    shoes: tuple[int, int, int]
    accessory: str
    accessory_colour: tuple[int, int, int]
    height: float  #: relative body height
    width: float  #: relative body width


@dataclasses.dataclass(frozen=True)
class Camera:
    """What one camera does to the pictures it takes."""

    sky: tuple[int, int, int]
    ground: tuple[int, int, int]
    horizon: float  #: fraction of the image height
    props: tuple[tuple[float, float, float, float, tuple[int, int, int]], ...]  #: background boxes
    gains: tuple[float, float, float]  #: per-channel light colour
    brightness: float
    contrast: float
    blur: float  #: Gaussian radius in output pixels
    noise: float  #: std of the pixel noise
    quality: int  #: JPEG quality
    scale: float  #: person height / image height
    views: tuple[float, float, float, float]  #: probability of front, back, left, right


def _colour(rng: np.random.Generator, exclude: Sequence[tuple[int, int, int]] = ()) -> tuple[int, int, int]:
    """A palette colour clearly different from those in ``exclude`` (so that patterns show)."""
    far = [c for c in PALETTE.values() if all(sum((a - b) ** 2 for a, b in zip(c, e)) > 90**2 for e in exclude)]
    return far[int(rng.integers(len(far)))]


def sample_looks(rng: np.random.Generator, n: int) -> list[Look]:
    """``n`` identities, in groups of :data:`GROUP_SIZE` that share every colour and differ in shapes."""
    looks: list[Look] = []
    while len(looks) < n:
        torso = _colour(rng)
        pattern_colour = _colour(rng, exclude=[torso])
        legs = _colour(rng)
        shared = {
            "skin": SKIN[int(rng.integers(len(SKIN)))],
            "hair": HAIR[int(rng.integers(len(HAIR)))],
            "torso": torso,
            "pattern_colour": pattern_colour,
            "legs": legs,
            "shoes": _colour(rng, exclude=[legs]),
            "accessory_colour": _colour(rng, exclude=[torso]),
        }
        patterns = rng.permutation(len(PATTERNS))[:GROUP_SIZE]
        for p in patterns:
            looks.append(
                Look(
                    **shared,
                    long_hair=bool(rng.random() < 0.4),
                    pattern=PATTERNS[int(p)],
                    long_sleeves=bool(rng.random() < 0.5),
                    legwear=LEGWEAR[int(rng.choice(3, p=[0.6, 0.25, 0.15]))],
                    accessory=ACCESSORIES[int(rng.integers(len(ACCESSORIES)))],
                    height=float(rng.uniform(0.92, 1.04)),
                    width=float(rng.uniform(0.85, 1.15)),
                )
            )
    return looks[:n]


def _muted(rng: np.random.Generator, level: float, tint: float = 18.0) -> tuple[int, int, int]:
    return tuple(int(np.clip(level + rng.uniform(-tint, tint), 0, 255)) for _ in range(3))


def sample_cameras(rng: np.random.Generator, n: int) -> list[Camera]:
    """``n`` cameras with different scenes, light and optics."""
    lights = [(1.05, 1.0, 0.93), (0.95, 0.98, 1.06), (1.0, 1.0, 1.0), (0.97, 1.04, 0.97), (1.03, 0.97, 1.0), (0.97, 0.97, 1.0)]
    cams = []
    for i in range(n):
        # cameras see people mostly from the front, mostly from the back, or both; side views are rarer
        views = [(0.65, 0.25, 0.05, 0.05), (0.25, 0.65, 0.05, 0.05), (0.4, 0.4, 0.1, 0.1)][i % 3]
        # scenes in muted colours (walls, pavement, doors), as in surveillance footage
        wall, floor = float(rng.uniform(120, 210)), float(rng.uniform(70, 150))
        props = tuple(
            (
                float(rng.uniform(-0.1, 0.9)),
                float(rng.uniform(0.0, 0.5)),
                float(rng.uniform(0.1, 0.4)),
                float(rng.uniform(0.1, 0.5)),
                _muted(rng, float(rng.uniform(60, 200))),
            )
            for _ in range(int(rng.integers(1, 4)))
        )
        light = lights[i % len(lights)]
        cams.append(
            Camera(
                sky=_muted(rng, wall),
                ground=_muted(rng, floor),
                horizon=float(rng.uniform(0.45, 0.75)),
                props=props,
                gains=tuple(float(g * rng.uniform(0.97, 1.03)) for g in light),
                brightness=float(rng.uniform(0.92, 1.08)),
                contrast=float(rng.uniform(0.9, 1.05)),
                blur=float(rng.uniform(0.0, 0.9)),
                noise=float(rng.uniform(2.0, 7.0)),
                quality=int(rng.integers(70, 95)),
                scale=float(rng.uniform(0.82, 0.94)),
                views=views,
            )
        )
    return cams


# -- rendering -----------------------------------------------------------------------------------


def _pattern_image(look: Look, box: tuple[int, int, int, int], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """The torso fabric over the whole canvas (later cut to the torso's shape)."""
    w, h = size
    img = Image.new("RGB", (w, h), look.torso)
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    c = look.pattern_colour
    period = max(8, int((y1 - y0) / 4))
    half = period // 2
    phase = int(rng.integers(period))
    if look.pattern == "hstripes":
        for y in range(y0 - phase, y1 + period, period):
            d.rectangle([0, y, w, y + half - 1], fill=c)
    elif look.pattern == "vstripes":
        cx = (x0 + x1) // 2
        for x in range(cx - 8 * period - phase, x1 + period, period):
            d.rectangle([x, 0, x + half - 1, h], fill=c)
    elif look.pattern == "checks":
        for y in range(y0 - phase, y1 + period, period):
            for x in range(x0 - phase, x1 + period, period):
                if ((y - y0 + phase) // period + (x - x0 + phase) // period) % 2 == 0:
                    d.rectangle([x, y, x + period - 1, y + period - 1], fill=c)
    elif look.pattern == "diagonal":
        step = int(period * 1.4)
        for k in range(-h, w + h, step):
            d.polygon([(k, y1 + 2), (k + step // 2, y1 + 2), (k + step // 2 + (y1 - y0) + 4, y0 - 2), (k + (y1 - y0) + 4, y0 - 2)], fill=c)
    elif look.pattern == "halves":
        d.rectangle([(x0 + x1) // 2, 0, w, h], fill=c)
    elif look.pattern == "dots":
        r = max(3, int(period * 0.45))
        for j, y in enumerate(range(y0 + r - phase % period, y1 + r, int(period * 1.3))):
            off = (j % 2) * int(period * 0.65)
            for x in range(x0 - period + off, x1 + period, int(period * 1.3)):
                d.ellipse([x - r, y - r, x + r, y + r], fill=c)
    return img


def _render_person(
    canvas: Image.Image, look: Look, view: str, cx: float, top: float, unit: float, rng: np.random.Generator
) -> None:
    """Draw one pedestrian standing on ``canvas`` (the high-resolution one)."""
    d = ImageDraw.Draw(canvas)
    u = unit
    side = view in ("left", "right")
    facing = -1 if view == "left" else 1
    wf = look.width * (0.62 if side else 1.0)
    stride = float(rng.uniform(0.0, 0.5)) * u
    swing = float(rng.uniform(-0.35, 0.35)) * u

    head_cx, head_cy = cx + (0.08 * u * facing if side else 0), top + 0.52 * u
    hr_x, hr_y = 0.36 * u, 0.5 * u
    shoulder_y, hip_y, knee_y, foot_y = top + 1.15 * u, top + 3.9 * u, top + 5.8 * u, top + 7.7 * u
    half_torso = 1.0 * u * wf
    leg_w = 0.62 * u * look.width * (0.9 if side else 1.0)

    # long hair and a backpack seen from the front hang behind the body: draw them first
    if look.long_hair and view != "front":
        d.rectangle([head_cx - hr_x * 0.95, head_cy, head_cx + hr_x * 0.95, top + 1.9 * u], fill=look.hair)
    if look.accessory == "backpack" and side:
        bx = cx - facing * (half_torso + 0.35 * u)
        d.rounded_rectangle([bx - 0.4 * u, shoulder_y + 0.15 * u, bx + 0.4 * u, shoulder_y + 1.9 * u], radius=int(0.15 * u), fill=look.accessory_colour)

    # legs
    shin = look.skin if look.legwear in ("shorts", "skirt") else look.legs
    if side:
        for sgn in (-1, 1):
            fx = cx + sgn * stride
            d.polygon([(cx - leg_w / 2, hip_y), (cx + leg_w / 2, hip_y), (fx + leg_w / 2, foot_y), (fx - leg_w / 2, foot_y)], fill=shin)
            if look.legwear == "shorts":
                kx = cx + sgn * stride * 0.5
                d.polygon([(cx - leg_w / 2, hip_y), (cx + leg_w / 2, hip_y), (kx + leg_w / 2, knee_y - 0.4 * u), (kx - leg_w / 2, knee_y - 0.4 * u)], fill=look.legs)
            d.rectangle([fx - leg_w / 2 - (0.15 * u if facing < 0 else 0), foot_y - 0.25 * u, fx + leg_w / 2 + (0.15 * u if facing > 0 else 0), foot_y + 0.05 * u], fill=look.shoes)
    else:
        spread = stride * 0.35
        for sgn in (-1, 1):
            lx = cx + sgn * (leg_w * 0.6 + spread)
            d.rectangle([lx - leg_w / 2, hip_y, lx + leg_w / 2, foot_y], fill=shin)
            if look.legwear == "shorts":
                d.rectangle([lx - leg_w / 2, hip_y, lx + leg_w / 2, knee_y - 0.4 * u], fill=look.legs)
            elif look.legwear == "trousers":
                d.rectangle([lx - leg_w / 2, hip_y, lx + leg_w / 2, foot_y], fill=look.legs)
            d.rectangle([lx - leg_w / 2 - 0.05 * u, foot_y - 0.25 * u, lx + leg_w / 2 + 0.05 * u, foot_y + 0.05 * u], fill=look.shoes)
    if look.legwear == "skirt":
        sw = half_torso * 1.05
        d.polygon([(cx - sw * 0.9, hip_y - 0.1 * u), (cx + sw * 0.9, hip_y - 0.1 * u), (cx + sw * 1.25, knee_y - 0.2 * u), (cx - sw * 1.25, knee_y - 0.2 * u)], fill=look.legs)

    # torso, cut out of the fabric
    torso_box = (int(cx - half_torso * 1.1), int(shoulder_y), int(cx + half_torso * 1.1), int(hip_y))
    fabric = _pattern_image(look, torso_box, canvas.size, rng)
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).polygon(
        [(cx - half_torso, shoulder_y), (cx + half_torso, shoulder_y), (cx + half_torso * 0.9, hip_y), (cx - half_torso * 0.9, hip_y)], fill=255
    )
    canvas.paste(fabric, (0, 0), mask)

    # arms (side view: the near arm, over the torso)
    sleeve_end = 0.55 if not look.long_sleeves else 1.0
    arm_w = 0.36 * u * look.width
    arm_len = 2.75 * u
    arm_xs = [cx + swing * 0.6] if side else [cx - half_torso - arm_w * 0.45, cx + half_torso + arm_w * 0.45]
    for i, ax in enumerate(arm_xs):
        hand_x = ax + (swing if side else (swing if i == 0 else -swing) * 0.3)
        top_pt, bot_pt = (ax, shoulder_y + 0.1 * u), (hand_x, shoulder_y + arm_len)
        mid = (top_pt[0] + (bot_pt[0] - top_pt[0]) * sleeve_end, top_pt[1] + (bot_pt[1] - top_pt[1]) * sleeve_end)
        d.line([top_pt, bot_pt], fill=look.skin, width=max(2, int(arm_w)))
        d.line([top_pt, mid], fill=look.torso, width=max(2, int(arm_w * 1.15)))
        d.ellipse([bot_pt[0] - arm_w * 0.55, bot_pt[1] - arm_w * 0.4, bot_pt[0] + arm_w * 0.55, bot_pt[1] + arm_w * 0.7], fill=look.skin)

    # accessories on the body
    ac = look.accessory_colour
    if look.accessory == "backpack" and view == "back":
        d.rounded_rectangle([cx - half_torso * 0.75, shoulder_y + 0.2 * u, cx + half_torso * 0.75, shoulder_y + 2.1 * u], radius=int(0.2 * u), fill=ac)
    elif look.accessory == "backpack" and view == "front":
        for sgn in (-1, 1):
            sx = cx + sgn * half_torso * 0.55
            d.line([(sx, shoulder_y), (sx, shoulder_y + 1.7 * u)], fill=ac, width=max(2, int(0.16 * u)))
    elif look.accessory == "bag":
        d.line([(cx - half_torso * 0.8, shoulder_y + 0.05 * u), (cx + half_torso * 0.9, hip_y - 0.2 * u)], fill=ac, width=max(2, int(0.14 * u)))
        bx = cx + (half_torso + 0.15 * u) * (facing if side else 1)
        d.rectangle([bx - 0.38 * u, hip_y - 0.55 * u, bx + 0.38 * u, hip_y + 0.35 * u], fill=ac)
    elif look.accessory == "scarf":
        d.rectangle([cx - half_torso * 0.7, shoulder_y - 0.2 * u, cx + half_torso * 0.7, shoulder_y + 0.3 * u], fill=ac)
        if view == "front":
            d.rectangle([cx + half_torso * 0.15, shoulder_y, cx + half_torso * 0.45, shoulder_y + 1.3 * u], fill=ac)

    # neck and head
    d.rectangle([cx - 0.15 * u, head_cy + hr_y * 0.6, cx + 0.15 * u, shoulder_y + 0.05 * u], fill=look.skin)
    d.ellipse([head_cx - hr_x, head_cy - hr_y, head_cx + hr_x, head_cy + hr_y], fill=look.skin)
    if view == "back":
        d.ellipse([head_cx - hr_x, head_cy - hr_y, head_cx + hr_x, head_cy + hr_y], fill=look.hair)
    elif side:
        d.chord([head_cx - hr_x, head_cy - hr_y, head_cx + hr_x, head_cy + hr_y], 90 if facing > 0 else -90, 270 if facing > 0 else 90, fill=look.hair)
        d.pieslice([head_cx - hr_x, head_cy - hr_y, head_cx + hr_x, head_cy + hr_y * 0.2], 180, 360, fill=look.hair)
    else:
        d.pieslice([head_cx - hr_x, head_cy - hr_y, head_cx + hr_x, head_cy + hr_y * 0.3], 180, 360, fill=look.hair)
    if look.accessory == "hat":
        d.pieslice([head_cx - hr_x * 1.05, head_cy - hr_y * 1.15, head_cx + hr_x * 1.05, head_cy + hr_y * 0.35], 180, 360, fill=ac)
        brim = (head_cx - hr_x * 1.3, head_cy - hr_y * 0.5, head_cx + hr_x * 1.3, head_cy - hr_y * 0.3)
        if side:
            brim = (head_cx, brim[1], head_cx + facing * hr_x * 1.6, brim[3]) if facing > 0 else (head_cx - hr_x * 1.6, brim[1], head_cx, brim[3])
        d.rectangle(brim, fill=ac)


def render(look: Look | None, camera: Camera, rng: np.random.Generator, size: tuple[int, int] = IMAGE_SIZE) -> Image.Image:
    """One picture of ``look`` taken by ``camera`` (``look=None``: the empty scene, for junk crops)."""
    h, w = size[0] * _SS, size[1] * _SS
    shift = float(rng.uniform(-0.15, 0.15)) * w  # the detector's box is never at the same place on the scene
    canvas = Image.new("RGB", (w, h), camera.sky)
    d = ImageDraw.Draw(canvas)
    horizon = int(camera.horizon * h + rng.uniform(-0.03, 0.03) * h)
    d.rectangle([0, horizon, w, h], fill=camera.ground)
    for px, py, pw, ph, colour in camera.props:
        x0 = px * w * 1.3 - shift
        d.rectangle([x0, py * h, x0 + pw * w, py * h + ph * h], fill=colour)
    if look is not None:
        view = VIEWS[int(rng.choice(4, p=camera.views))]
        scale = camera.scale * look.height * float(rng.uniform(0.95, 1.05))
        unit = scale * h / 8.0
        top = h - 8.0 * unit - float(rng.uniform(0.0, 0.06)) * h + 0.02 * h
        cx = w / 2 + float(rng.uniform(-0.08, 0.08)) * w
        _render_person(canvas, look, view, cx, top, unit, rng)
        if rng.random() < 0.08:  # something in front of the person: a pole or a low wall
            c = tuple(int(v) for v in rng.integers(30, 200, 3))
            if rng.random() < 0.5:
                x = float(rng.uniform(0.1, 0.8)) * w
                d.rectangle([x, 0, x + 0.12 * w, h], fill=c)
            else:
                d.rectangle([0, h * float(rng.uniform(0.78, 0.88)), w, h], fill=c)
    img = canvas.resize((size[1], size[0]), Image.Resampling.BOX)
    if camera.blur > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(camera.blur))
    a = np.asarray(img, dtype=np.float32)
    gains = np.asarray(camera.gains, dtype=np.float32) * camera.brightness * float(rng.uniform(0.92, 1.08))
    a = (a - 128.0) * camera.contrast + 128.0
    a = a * gains + rng.normal(0.0, camera.noise, a.shape).astype(np.float32)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


# -- the dataset ---------------------------------------------------------------------------------


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _rng(seed: int, *key: int) -> np.random.Generator:
    # every image draws from its own stream, so one image does not depend on the order of the others
    return np.random.default_rng([seed, *key])


def write_dataset(
    folder: str | os.PathLike,
    *,
    seed: int = 0,
    num_ids: int = 200,
    num_cameras: int = 6,
    num_distractors: int | None = None,
    num_junk: int | None = None,
) -> None:
    """Render the dataset into ``folder`` (created), in the Market-1501 layout.

    Args:
        folder: where to write ``bounding_box_train/``, ``query/`` and ``bounding_box_test/``.
        seed: everything follows from it.
        num_ids: identities; the first half (in shuffled order) train, the rest test.
        num_cameras: cameras (2 or more).
        num_distractors: gallery images of people who are in no query (default ``num_ids // 2``).
        num_junk: junk crops (pid -1) in the test folder (default ``num_ids // 4``).
    """
    if num_ids < 4 or num_cameras < 2:
        raise ValueError(f"synthetic dataset: need at least 4 identities and 2 cameras, got {num_ids} and {num_cameras}")
    folder = Path(folder)
    dirs = {s: folder / s for s in ("bounding_box_train", "query", "bounding_box_test")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    root = _rng(seed, 0)
    looks = sample_looks(root, num_ids)
    cameras = sample_cameras(_rng(seed, 1), num_cameras)
    # whole colour groups go to one side, so test identities are new combinations of colours
    groups = _rng(seed, 2).permutation(math.ceil(num_ids / GROUP_SIZE))
    order = [g * GROUP_SIZE + j for g in groups for j in range(GROUP_SIZE) if g * GROUP_SIZE + j < num_ids]
    num_train = round(num_ids * TRAIN_FRACTION)
    frame = 0
    for rank, ident in enumerate(order):
        pid = rank + 1  # 0000 is reserved for distractors, as in Market-1501
        train = rank < num_train
        r = _rng(seed, 3, ident)
        n_cams = int(r.integers(min(3, num_cameras), num_cameras + 1))
        cams = sorted(int(c) for c in r.permutation(num_cameras)[:n_cams])
        query_cams = set() if train else {int(c) for c in r.permutation(cams)[:2]}
        for cam in cams:
            n_frames = int(r.integers(2, 5))
            for k in range(n_frames):
                frame += 1
                img = render(looks[ident], cameras[cam], _rng(seed, 4, ident, cam, k))
                name = f"{pid:04d}_c{cam + 1}s1_{frame:06d}_00.jpg"
                split = "bounding_box_train" if train else ("query" if k == 0 and cam in query_cams else "bounding_box_test")
                (dirs[split] / name).write_bytes(_jpeg(img, cameras[cam].quality))
    extra = sample_looks(_rng(seed, 5), num_distractors if num_distractors is not None else num_ids // 2)
    for i, look in enumerate(extra):
        cam = i % num_cameras
        frame += 1
        img = render(look, cameras[cam], _rng(seed, 6, i))
        (dirs["bounding_box_test"] / f"0000_c{cam + 1}s1_{frame:06d}_00.jpg").write_bytes(_jpeg(img, cameras[cam].quality))
    for i in range(num_junk if num_junk is not None else num_ids // 4):
        cam = i % num_cameras
        frame += 1
        r = _rng(seed, 7, i)
        look = looks[int(r.integers(num_ids))] if r.random() < 0.5 else None
        img = render(look, cameras[cam], r)
        if look is not None:  # a bad detection: a sliver of someone
            x = int(r.integers(0, IMAGE_SIZE[1] // 2))
            img = img.crop((x, 0, x + IMAGE_SIZE[1] // 3, IMAGE_SIZE[0] // 2)).resize((IMAGE_SIZE[1], IMAGE_SIZE[0]))
        (dirs["bounding_box_test"] / f"-1_c{cam + 1}s1_{frame:06d}_00.jpg").write_bytes(_jpeg(img, cameras[cam].quality))
    manifest = {
        "generator": f"reid_core.data.synthetic {VERSION}",
        "seed": seed,
        "num_ids": num_ids,
        "num_cameras": num_cameras,
        "image_size": list(IMAGE_SIZE),
        "identities": {f"{rank + 1:04d}": dataclasses.asdict(looks[ident]) for rank, ident in enumerate(order)},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))


def dataset_dir(seed: int = 0, num_ids: int = 200, num_cameras: int = 6) -> Path:
    """Where the synthetic dataset with these settings is cached."""
    name = f"synthetic-{VERSION}-{seed}"
    if (num_ids, num_cameras) != (200, 6):
        name += f"-{num_ids}x{num_cameras}"
    return reid_home() / "datasets" / name


def ensure_dataset(seed: int = 0, num_ids: int = 200, num_cameras: int = 6, *, root: str | os.PathLike | None = None) -> Path:
    """The folder of the synthetic dataset, generated first if it is not cached yet.

    ``root`` replaces ``$REID_HOME/datasets`` as the parent folder. Generation writes to a
    temporary folder beside the final one and renames it, under a file lock, so concurrent
    processes generate it once and nobody reads a half-written dataset.
    """
    target = dataset_dir(seed, num_ids, num_cameras)
    if root is not None:
        target = Path(root).expanduser() / target.name
    if (target / "manifest.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "manifest.json").is_file():
            return target
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp"))
        try:
            write_dataset(tmp, seed=seed, num_ids=num_ids, num_cameras=num_cameras)
            if target.exists():  # a leftover without a manifest: an interrupted run of an older version
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def synthetic(root: str | os.PathLike | None = None, *, seed: int = 0, num_ids: int = 200, num_cameras: int = 6) -> ReIDDataset:
    """The synthetic dataset (generated on first use, then read from the cache).

    Args:
        root: parent folder of the cached dataset (default ``$REID_HOME/datasets``).
        seed: which dataset; the same seed gives the same images on every machine.
        num_ids: identities (half train, half test); 200 by default, fewer for quick tests.
        num_cameras: cameras.
    """
    folder = ensure_dataset(seed, num_ids, num_cameras, root=root)
    return read_market_layout(folder, "synthetic", "synthetic dataset")


# -- the colour-histogram baseline ---------------------------------------------------------------


def color_histogram_features(
    records: Sequence[Record | str | os.PathLike],
    *,
    stripes: int = 6,
    bins: tuple[int, int, int] = (8, 3, 3),
    centre: float = 0.5,
) -> np.ndarray:
    """Hand-made features: an HSV histogram per horizontal stripe of the image.

    The classic colour baseline of person re-identification (as in ELF / LOMO without texture):
    ``bins`` hue x saturation x value bins in each of ``stripes`` horizontal stripes, each
    stripe's histogram normalized to sum 1 and square-rooted (the Hellinger map, so that cosine
    similarity compares distributions sensibly). Only the central ``centre`` fraction of the
    columns is counted, where the person is, so that the background does not decide. Returns
    float32 ``[N, stripes * prod(bins)]``.
    """
    out = []
    nb = np.asarray(bins)
    for item in records:
        path = item.path if isinstance(item, Record) else item
        with Image.open(path) as im:
            hsv = np.asarray(im.convert("RGB").convert("HSV"), dtype=np.int64)
        w = hsv.shape[1]
        hsv = hsv[:, int(w * (1 - centre) / 2) : int(w * (1 + centre) / 2)]
        cell = hsv * nb // 256  # per-channel bin index
        flat = (cell[..., 0] * nb[1] + cell[..., 1]) * nb[2] + cell[..., 2]
        feats = []
        for band in np.array_split(flat, stripes, axis=0):
            hist = np.bincount(band.ravel(), minlength=int(nb.prod())).astype(np.float64)
            feats.append(np.sqrt(hist / max(hist.sum(), 1.0)))
        out.append(np.concatenate(feats))
    return np.stack(out).astype(np.float32)
