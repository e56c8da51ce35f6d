"""The model protocol: what every reid-zoo model is and carries.

A model is a ``torch.nn.Module`` that takes images as floats in [0, 1], shape ``[B, 3, H, W]``,
normalizes them itself and, in eval mode, returns features ``[B, D]``. Families subclass
:class:`ReIDModel` and implement :meth:`ReIDModel.forward_features`; their submodules keep the
upstream names so that published checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: A float batch whose largest value exceeds this is taken for 0-255 pixels (flip and colour jitter
#: keep [0, 1] images well below it).
PIXEL_RANGE_WARNING = 1.5


@dataclasses.dataclass(frozen=True)
class ModelMeta:
    """What a model is, independent of any trained weights."""

    name: str  #: zoo name, e.g. ``"bagtricks_R50_fastreid"``
    family: str  #: the family that registers it, e.g. ``"fastreid"``
    feature_dim: int  #: size D of the eval-mode features
    input_size: tuple[int, int] = (256, 128)  #: (H, W) the weights were trained at
    test_flip: bool = False  #: whether features average each image's and its mirror's (the weights' test setting)
    trained_size: tuple[int, int] | None = None  #: (H, W) of the loaded weights, set by ``reid_core.load``;
    #: ``None``: not known (no weights, or a file that does not say). A different ``input_size`` is warned about.
    mean: tuple[float, float, float] = IMAGENET_MEAN  #: per-channel mean of images in [0, 1]
    std: tuple[float, float, float] = IMAGENET_STD  #: per-channel std of images in [0, 1]
    camera_aware: bool = False  #: whether ``camids`` change the features (TransReID's SIE)
    classifier_key: str | None = None  #: state-dict key whose dim 0 is ``num_classes``
    camera_key: str | None = None  #: state-dict key whose dim 0 is ``camera_num``
    cam_layer: str | None = None  #: module path Grad-CAM attaches to
    paper: str | None = None  #: where the architecture comes from
    notes: str = ""  #: anything a user must know (quirks kept on purpose for parity)


class _Missing:
    def __repr__(self) -> str:
        return "<camids not given>"


#: Default of ``camids``: tells "not passed" from an explicit ``None``.
MISSING: Any = _Missing()


class ReIDModel(nn.Module):
    """Base class of every reid-zoo model.

    Subclasses build their layers under the upstream names and implement
    :meth:`forward_features`. The registry attaches a :class:`ModelMeta` after building, which
    sets the normalization; until then ImageNet statistics are used.

    Checkpoint hooks a family may override:

    * :attr:`unused_checkpoint_keys`: fnmatch patterns of keys that published checkpoints carry
      but the model does not need (dropped, and reported, by :func:`reid_core.load_weights`);
    * :attr:`classifier_keys`: patterns of training-only classifier keys, which
      ``load_weights(..., drop_classifier=True)`` leaves out so files trained on other identities load;
    * :meth:`convert_checkpoint`: renames keys of older upstream layouts.
    """

    unused_checkpoint_keys: tuple[str, ...] = ()
    classifier_keys: tuple[str, ...] = ()
    #: set once the 0-255 warning was given, so that a loop of batches warns once
    _warned_pixel_range: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.meta: ModelMeta | None = None
        # Non-persistent: normalization travels with the metadata, not with the state dict,
        # so the state dict stays exactly the upstream one.
        self.register_buffer("norm_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("norm_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # -- metadata -------------------------------------------------------------------------
    def attach_meta(self, meta: ModelMeta) -> None:
        """Set the model's metadata and the normalization it implies."""
        self.meta = meta
        device = self.norm_mean.device
        self.norm_mean = torch.tensor(meta.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.norm_std = torch.tensor(meta.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def _meta(self) -> ModelMeta:
        if self.meta is None:
            raise AttributeError(
                f"{type(self).__name__} has no metadata: build it with reid_core.create_model(name) "
                "or call attach_meta()"
            )
        return self.meta

    name = property(lambda self: self._meta().name, doc="Zoo name of the model.")
    family = property(lambda self: self._meta().family, doc="Family that registers the model.")
    feature_dim = property(lambda self: self._meta().feature_dim, doc="Size of the eval features.")
    input_size = property(lambda self: self._meta().input_size, doc="(H, W) of the expected images.")
    mean = property(lambda self: self._meta().mean, doc="Normalization mean (images in [0, 1]).")
    std = property(lambda self: self._meta().std, doc="Normalization std (images in [0, 1]).")
    camera_aware = property(lambda self: self._meta().camera_aware, doc="Whether camids are used.")

    # -- forward --------------------------------------------------------------------------
    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Map images in [0, 1] to the network's input scale."""
        return (images - self.norm_mean.to(images.dtype)) / self.norm_std.to(images.dtype)

    def forward(self, images: torch.Tensor, camids: torch.Tensor | None = MISSING) -> Any:
        """Features ``[B, D]`` in eval mode; in train mode what the family's losses need.

        ``images`` are floats in [0, 1] of the model's dtype; ``uint8`` images (0-255) are accepted
        and scaled to [0, 1]. A float batch above :data:`PIXEL_RANGE_WARNING` (0-255 pixels, as
        fast-reid's own models take) gets one warning per model.

        ``camids`` are zero-based camera indices, one per image. Camera-aware models require
        them: leaving them out raises, while an explicit ``camids=None`` asks the model to run
        without side information (see the family's docs for what that means). Other models
        ignore them.
        """
        images = self._check_images(images)
        camera_aware = self.meta is not None and self.meta.camera_aware
        if camids is MISSING:
            if camera_aware:
                raise ValueError(
                    f"{self._name_or_type()} is camera-aware: pass camids= (zero-based, one per image), "
                    "or camids=None explicitly to run without camera information"
                )
            camids = None
        if camids is not None:
            camids = torch.as_tensor(camids, device=images.device).long().reshape(-1)
            if camids.numel() != images.shape[0]:
                raise ValueError(
                    f"{self._name_or_type()}: got {camids.numel()} camids for {images.shape[0]} images"
                )
        return self.forward_features(self.normalize(images), camids if camera_aware else None)

    def _check_images(self, images: Any) -> torch.Tensor:
        """``images`` as the float batch the network takes, or an error that says what to pass."""
        who = self._name_or_type()
        if not isinstance(images, torch.Tensor):
            kind = f"{type(images).__module__}.{type(images).__name__}"
            hint = (" (numpy HWC images: torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255)"
                    if type(images).__module__ == "numpy" else "")
            raise TypeError(f"{who}: expected images as a torch.Tensor [B, 3, H, W] of floats in [0, 1], "
                            f"got {kind}{hint}")
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"{who}: expected images [B, 3, H, W], got {tuple(images.shape)}")
        if images.dtype == torch.uint8:
            weight = next((p for p in self.parameters() if p.is_floating_point()), None)
            dtype = weight.dtype if weight is not None else torch.float32
            return images.to(dtype).div_(255)
        if not images.is_floating_point():
            raise TypeError(f"{who}: images are {images.dtype}; pass floats in [0, 1] or uint8 in 0-255 "
                            "(e.g. images.float() / 255)")
        weight = next((p for p in self.parameters() if p.is_floating_point()), None)
        if weight is not None and images.dtype == torch.float64 and weight.dtype != torch.float64:
            raise TypeError(f"{who}: images are float64 but the model's weights are {weight.dtype}: pass "
                            f"images.to({weight.dtype}) (or convert the model with model.double())")
        # meta tensors (shape-only MAC counting) have no values to look at
        if not self._warned_pixel_range and not _tracing() and not images.is_meta:
            if images.numel() and float(images.detach().amax()) > PIXEL_RANGE_WARNING:
                self._warned_pixel_range = True
                warnings.warn(f"{who}: images go up to {float(images.detach().amax()):.4g}, but the model "
                              "takes floats in [0, 1]; 0-255 pixels give meaningless features: divide "
                              "them by 255 (or pass uint8)", stacklevel=3)
        return images

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        """Run the network on normalized images. Implemented by each family."""
        raise NotImplementedError

    # -- checkpoints ----------------------------------------------------------------------
    def convert_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename keys of older upstream layouts to this model's names. Default: unchanged."""
        return dict(state_dict)

    def _name_or_type(self) -> str:
        return self.meta.name if self.meta is not None else type(self).__name__


def _tracing() -> bool:
    """Whether the forward is being traced or compiled, where reading a value back is not allowed."""
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)
    return bool(torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling() or exporting())
