"""CLIP-ReID's re-id model: a CLIP image encoder, and for training its text side and BN-neck heads."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from reid_core import ModelMeta, ReIDModel
from reid_core.model import MISSING
from reid_core.training.losses import cross_entropy_label_smooth
from torch import nn

from .clip.text import PromptLearner, TextEncoder
from .clip.vision import ModifiedResNet, VisionTransformer
from .losses import supervised_contrastive

STAGES = (0, 1, 2)
#: Keys of what only training uses: the published checkpoints carry them, inference drops them.
TRAINING_KEYS = ("text_encoder.*", "prompt_learner.*", "classifier.*", "classifier_proj.*",
                 "bottleneck.*", "bottleneck_proj.*")
#: Text features of all identities are computed this many at a time (stage 2).
TEXT_CHUNK = 64


class CLIPReID(ReIDModel):
    """CLIP-ReID (Li et al., AAAI 2023) with CLIP-ReID's module names (``image_encoder``, ``cv_embed``, ...).

    Eval mode returns ``cat(feature, projected feature)``, both before the BN necks (CLIP-ReID's
    ``TEST.NECK_FEAT: before``): 768 + 512 = 1280 for ViT-B/16, 2048 + 1024 = 3072 for RN50.

    ``stage`` chooses what is built:

    * ``0`` (inference, the default): the image encoder, and ``cv_embed`` with cameras. The
      published checkpoints' text encoder, prompts, necks and classifiers are dropped when they
      load (:attr:`unused_checkpoint_keys`), and reported.
    * ``1`` (prompt learning): everything CLIP-ReID saves; only ``prompt_learner.cls_ctx`` learns.
      Train mode takes ``targets`` and returns the image-to-text and text-to-image supervised
      contrastive losses of the frozen encoders' features (``{"losses": {...}}``).
    * ``2`` (image-encoder fine-tuning): the text encoder and prompts are frozen; train mode returns
      the logits of both BN-necked features (ID loss), the features before the last block, after it
      and projected (triplet loss), and the label-smoothed cross entropy of the projected feature
      against every identity's text feature (``losses["i2t"]``). Needs learned prompts: load a
      stage-1 checkpoint first.

    Args:
        num_classes: training identities (prompts and classifiers, stages 1 and 2).
        backbone: ``"vit"`` (ViT-B/16) or ``"rn50"``.
        stride: ViT patch stride, 16 or 12 (overlapping patches).
        camera_num: rows of the camera embedding ``cv_embed`` added to the class token; 0: none.
        sie_coe: its coefficient (1.0 in the published SIE-OLP models; CLIP-ReID's default is 3.0).
        img_size: (H, W) the position embeddings are built for.
        depth: image-encoder blocks (ViT) for quick tests; None: the full model.
        text_depth: text-encoder blocks (12); fewer only for quick tests.
        i2t_epsilon: label smoothing of the stage-2 image-to-text loss (0.1, as CLIP-ReID).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        backbone: str = "vit",
        stride: int = 16,
        camera_num: int = 0,
        sie_coe: float = 1.0,
        img_size: tuple[int, int] = (256, 128),
        stage: int = 0,
        depth: int | None = None,
        text_depth: int = 12,
        i2t_epsilon: float = 0.1,
    ) -> None:
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"stage must be 0 (inference), 1 (prompt learning) or 2 (fine-tuning), got {stage!r}")
        if backbone == "vit":
            self.image_encoder: nn.Module = VisionTransformer(img_size, stride, layers=depth or 12)
            feat_dim, proj_dim = 768, 512
        elif backbone == "rn50":
            if depth is not None:
                raise ValueError("depth applies to the ViT encoder only")
            if camera_num:
                raise ValueError("CLIP-ReID has no camera embedding for the ResNet encoder: camera_num must be 0")
            self.image_encoder = ModifiedResNet(img_size)
            feat_dim, proj_dim = 2048, 1024
        else:
            raise ValueError(f"backbone must be 'vit' or 'rn50', got {backbone!r}")
        self.backbone = backbone
        self.num_classes = num_classes
        self.camera_num = camera_num
        self.sie_coe = sie_coe
        self.img_size = tuple(img_size)
        self.stage = stage
        self.i2t_epsilon = i2t_epsilon
        if camera_num:
            self.cv_embed = nn.Parameter(nn.init.trunc_normal_(torch.zeros(camera_num, feat_dim), std=0.02))
        if stage:
            self.classifier = nn.Linear(feat_dim, num_classes, bias=False)
            self.classifier_proj = nn.Linear(proj_dim, num_classes, bias=False)
            for head in (self.classifier, self.classifier_proj):
                nn.init.normal_(head.weight, std=0.001)
            self.bottleneck = nn.BatchNorm1d(feat_dim)
            self.bottleneck_proj = nn.BatchNorm1d(proj_dim)
            for neck in (self.bottleneck, self.bottleneck_proj):
                neck.bias.requires_grad_(False)
            self.prompt_learner = PromptLearner(num_classes)
            self.text_encoder = TextEncoder(layers=text_depth, output_dim=proj_dim)
            self._freeze_for_stage()
        self._prompts_loaded = False
        self._class_text: torch.Tensor | None = None
        self.register_load_state_dict_post_hook(_note_prompts)

    # CLIP-ReID's published files hold the whole training model; inference needs the image side.
    unused_checkpoint_keys = TRAINING_KEYS
    # The prompts are per identity too, but stage 2 must load them from stage 1 (MODEL.WEIGHTS, which
    # the trainer loads with drop_classifier): they are not listed here.
    classifier_keys = ("classifier.*", "classifier_proj.*")

    @property
    def wants_targets(self) -> bool:
        """Whether train mode needs the identity labels (``targets=``): stages 1 and 2."""
        return self.stage > 0

    def _freeze_for_stage(self) -> None:
        if self.stage == 1:
            for name, p in self.named_parameters():
                p.requires_grad_(name == "prompt_learner.cls_ctx")
        elif self.stage == 2:
            for p in [*self.text_encoder.parameters(), *self.prompt_learner.parameters()]:
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "CLIPReID":
        """As ``nn.Module.train``; in stage 1 the frozen encoders stay in eval mode (their norms too)."""
        super().train(mode)
        if self.stage == 1:
            self.image_encoder.eval()
            self.text_encoder.eval()
        return self

    def attach_meta(self, meta: ModelMeta) -> None:
        """As :meth:`ReIDModel.attach_meta`, with the ``input_size`` this model was built for."""
        super().attach_meta(dataclasses.replace(meta, input_size=self.img_size))

    # -- Grad-CAM ---------------------------------------------------------------------------
    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the ViT's patch tokens, or of the ResNet's last map."""
        return self.image_encoder.grid

    def reshape_transform(self, tokens: torch.Tensor) -> torch.Tensor:
        """ViT tokens ``[B, 1 + h*w, C]`` of ``cam_layer`` as a map ``[B, C, h, w]`` (the class token dropped)."""
        h, w = self.patch_grid
        return tokens[:, 1:].reshape(tokens.shape[0], h, w, -1).permute(0, 3, 1, 2)

    # -- forward ----------------------------------------------------------------------------
    def forward(self, images: torch.Tensor, camids: torch.Tensor | None = MISSING,
                targets: torch.Tensor | None = None) -> Any:
        """As :meth:`ReIDModel.forward`; training stages 1 and 2 also take the identity labels ``targets``."""
        self._targets = targets
        try:
            return super().forward(images, camids)
        finally:
            self._targets = None

    def _camera_embedding(self, camids: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if not self.camera_num:
            return None
        if camids is None:
            # Unknown camera: the expected embedding over the training cameras.
            return self.sie_coe * self.cv_embed.mean(dim=0, keepdim=True).expand(batch, -1)
        if not _tracing() and camids.numel() and (int(camids.min()) < 0 or int(camids.max()) >= self.camera_num):
            raise ValueError(f"camids must lie in [0, {self.camera_num - 1}], got {camids.tolist()}")
        return self.sie_coe * self.cv_embed[camids]

    def forward_features(self, x: torch.Tensor, camids: torch.Tensor | None) -> Any:
        cv = self._camera_embedding(camids, x.shape[0])
        if not self.training or self.stage == 0:
            if self.training:
                raise RuntimeError("build with stage=1 or stage=2 to train (MODEL.KWARGS.stage)")
            _, feat, proj = self.image_encoder(x, cv)
            return torch.cat([feat, proj], dim=1)
        targets = self._targets
        if targets is None:
            raise ValueError(f"stage {self.stage} training needs the identity labels: call model(images, targets=pids)")
        if self.stage == 1:
            with torch.no_grad():
                _, _, image = self.image_encoder(x, cv)
            text = self.text_features(targets)
            return {"losses": {
                "i2t": supervised_contrastive(image, text, targets, targets),
                "t2i": supervised_contrastive(text, image, targets, targets),
            }}
        before_last, feat, proj = self.image_encoder(x, cv)
        logits = [self.classifier(self.bottleneck(feat)), self.classifier_proj(self.bottleneck_proj(proj))]
        i2t = proj @ self.class_text_features().to(proj.dtype).t()
        return {
            "logits": logits,
            "features": [before_last, feat, proj],
            "losses": {"i2t": cross_entropy_label_smooth(i2t, targets, self.i2t_epsilon)},
        }

    def text_features(self, labels: torch.Tensor) -> torch.Tensor:
        """Text features ``[B, D]`` of the identities' prompts (stages 1 and 2)."""
        return self.text_encoder(self.prompt_learner(labels))

    def class_text_features(self) -> torch.Tensor:
        """Every identity's text feature ``[num_classes, D]``, computed once per model (stage 2: prompts frozen)."""
        if not self._prompts_loaded:
            raise RuntimeError(
                "stage 2 needs the prompts learned in stage 1: load a stage-1 checkpoint first "
                "(MODEL.WEIGHTS, or reid_clipreid.train_two_stages)"
            )
        if self._class_text is None:
            device = self.prompt_learner.cls_ctx.device
            with torch.no_grad(), torch.autocast(device.type, enabled=False):
                labels = torch.arange(self.num_classes, device=device)
                self._class_text = torch.cat([self.text_features(chunk) for chunk in labels.split(TEXT_CHUNK)])
        return self._class_text


def _tracing() -> bool:
    # Export traces the forward: a value check on the camids would freeze them into the graph.
    compiling = getattr(torch.compiler, "is_compiling", None)
    return torch.jit.is_tracing() or bool(compiling and compiling())


def _note_prompts(module: nn.Module, incompatible: Any) -> None:
    # Stage 2 refuses to train on random prompts: remember whether a state dict brought learned ones.
    if isinstance(module, CLIPReID) and module.stage:
        if "prompt_learner.cls_ctx" not in incompatible.missing_keys:
            module._prompts_loaded = True
            module._class_text = None
