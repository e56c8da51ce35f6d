"""Training: yacs configs with per-family recipes, losses, schedules, checkpoints and the DDP loop."""

from .checkpoint import CheckpointManager, save_atomic
from .config import default_config, merge_overrides
from .losses import (
    CenterLoss,
    circle_logits,
    cosface_logits,
    cross_entropy_label_smooth,
    triplet_loss,
)
from .objective import Objective, split_outputs
from .recipes import recipe_for, resolve_recipe
from .schedule import build_scheduler, lr_factor
from .trainer import Trainer, build_optimizer

__all__ = [
    "CenterLoss",
    "CheckpointManager",
    "Objective",
    "Trainer",
    "build_optimizer",
    "build_scheduler",
    "circle_logits",
    "cosface_logits",
    "cross_entropy_label_smooth",
    "default_config",
    "lr_factor",
    "merge_overrides",
    "recipe_for",
    "resolve_recipe",
    "save_atomic",
    "split_outputs",
    "triplet_loss",
]
